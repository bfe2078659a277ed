#!/usr/bin/env node
// Thin launcher: all behaviour lives in the compiled CLI (npm ci runs the build via `prepare`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
