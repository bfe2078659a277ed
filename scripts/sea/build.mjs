// Builds a Linux x64 single executable of the agent (`bulwark agent …`) with Node's single-executable
// applications: the agent's sources bundled into one CommonJS file (rolldown, already installed with vite), a
// preparation blob (`node --experimental-sea-config`), a copy of this node binary with the blob injected (postject,
// run through npx at its pinned version, not a dependency of the package). Output: .sea/bulwark (or --out FILE).
// The executable runs `bulwark agent enroll|run|…`; the server (`bulwark serve`) is not in it (native addon
// better-sqlite3, the advisory data files): install the npm package for the server.
//
//   node scripts/sea/build.mjs [--out FILE]
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const WORK = join(ROOT, '.sea');
const outArg = process.argv.indexOf('--out');
const OUT = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(WORK, 'bulwark');
const POSTJECT = 'postject@1.0.0-alpha.6';
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

if (process.platform !== 'linux' || process.arch !== 'x64')
  console.error(`sea: building on ${process.platform}-${process.arch}; the executable is for this platform`);
mkdirSync(WORK, { recursive: true });

// 1. One CommonJS file: a single executable's main script may only require Node's built-in modules.
const bundleFile = join(WORK, 'bulwark-agent.cjs');
const bundle = await rolldown({
  input: join(ROOT, 'scripts/sea/entry.ts'),
  platform: 'node',
  external: [...builtinModules, ...builtinModules.map((m) => `node:${m}`), 'better-sqlite3', 'pg-native'],
  resolve: { extensionAlias: { '.js': ['.ts', '.js'] } },
  // ws tries its optional native helpers with require(); a single executable cannot load them and warns.
  transform: {
    define: { 'process.env.WS_NO_BUFFER_UTIL': '"1"', 'process.env.WS_NO_UTF_8_VALIDATE': '"1"' },
  },
  logLevel: 'warn',
});
await bundle.write({ file: bundleFile, format: 'cjs', codeSplitting: false, minify: true });
await bundle.close();
console.error(`sea: bundle ${(statSync(bundleFile).size / 1024).toFixed(0)} KB`);

// 2. The preparation blob.
const blob = join(WORK, 'sea-prep.blob');
const config = join(WORK, 'sea-config.json');
writeFileSync(
  config,
  JSON.stringify({ main: bundleFile, output: blob, disableExperimentalSEAWarning: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'inherit' });

// 3. A copy of node with the blob injected.
mkdirSync(dirname(OUT), { recursive: true });
copyFileSync(process.execPath, OUT);
chmodSync(OUT, 0o755);
execFileSync('npx', ['--yes', POSTJECT, OUT, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], {
  stdio: 'inherit',
});
console.error(`sea: ${OUT} (${(statSync(OUT).size / 2 ** 20).toFixed(1)} MiB, node ${process.version})`);
