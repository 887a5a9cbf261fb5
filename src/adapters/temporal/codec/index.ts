export * from './aes-gcm';
export * from './keys';
