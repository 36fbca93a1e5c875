import { defineConfig } from 'vitest/config';

// Unit tests of the extensions' logic (no Shopify runtime needed).
export default defineConfig({
  test: {
    include: ['extensions/*/src/**/*.test.ts'],
    environment: 'node',
  },
});
