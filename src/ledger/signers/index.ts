export { openTreasurySigner } from './open.js';
export { openPkcs11Signer } from './pkcs11.js';
export { generatePkcs11Key, type GeneratedKey } from './pkcs11-keygen.js';
export { pkcs11KeyUri } from './pkcs11-token.js';
