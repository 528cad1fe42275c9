import { defineConfig } from 'vite';

// The page is served by monaco-server at `/`, its files under `/assets/`
// (names carry a content hash; the server caches them for a year).
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    // The Monaco editor alone is a few MiB; one warning per build says nothing.
    chunkSizeWarningLimit: 6000,
  },
  worker: { format: 'es' },
  server: {
    // `npm run dev` against a server on :8080.
    proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true } },
  },
});
