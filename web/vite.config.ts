import { defineConfig } from 'vite';

// The console is served by iot-api from the build output (IOT_WEB_DIR); `--outDir` is given by web/build.sh.
// `npm run dev` proxies /api (and the stream) to a running iot-api on IOT_HTTP_PORT (default 8080).
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    target: ['chrome111', 'firefox115'],
    sourcemap: false,
    chunkSizeWarningLimit: 400,
    assetsInlineLimit: 0,
  },
  server: {
    proxy: {
      '/api': { target: `http://127.0.0.1:${process.env.IOT_HTTP_PORT ?? 8080}`, ws: true },
    },
  },
});
