#!/usr/bin/env node
// The operator CLI. The project runs TypeScript through tsx, so register it before loading the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
