import { createRegistryUrlPolicy, type HostResolver, type RegistryUrlPolicy } from '../../src/ledger/registry-url-policy.js';

/**
 * What tests set in place of REGISTRY_ALLOW_HTTP and REGISTRY_ALLOW_HOSTS: http, and registries on
 * this machine (stubs, the ledger double) or at the reserved test names fakes answer for. Names are
 * never sent to a DNS server: `localhost` is loopback, anything else does not exist.
 */
export const TEST_REGISTRY_HOSTS = ['127.0.0.1', '::1', 'localhost', '*.example', '*.example.com', '*.registry'];

export const offlineResolver: HostResolver = async (hostname) => {
  if (hostname === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
};

export const TEST_REGISTRY_POLICY: RegistryUrlPolicy = createRegistryUrlPolicy({
  config: { allowHttp: true, allowHosts: TEST_REGISTRY_HOSTS },
  resolve: offlineResolver,
});
