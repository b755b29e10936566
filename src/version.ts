// Kept in step with package.json by build.ts; one place so the binary needs no file reads to start.
export const VERSION = "0.1.0";
