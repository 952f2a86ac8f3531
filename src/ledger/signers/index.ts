export { openTreasurySigner } from './open.js';
export { generatePkcs11Key, openPkcs11Signer, pkcs11KeyUri, type GeneratedKey } from './pkcs11.js';
