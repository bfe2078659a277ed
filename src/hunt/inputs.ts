/**
 * What `bulwark hunt <path...>` reads: folders (walked recursively, symbolic links not followed), single files,
 * and `.zip` / `.gz` bundles recognised by their magic bytes, not their names. Every file becomes an InputFile
 * that is opened as a stream only when scanned, so nothing is held in memory.
 *
 * Archives are bounded (archive.ts): decompressed bytes per archive, expansion ratio, and zips whose entries share
 * compressed data are refused before anything is decompressed.
 */
import { closeSync, createReadStream, fstatSync, opendirSync, openSync, readSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { createGunzip } from 'node:zlib';
import yauzl from 'yauzl';
import {
  ArchiveBudget,
  type ArchiveLimits,
  bounded,
  DEFAULT_ARCHIVE_LIMITS,
  overlappingEntries,
} from './archive.js';

export interface InputFile {
  /**
   * Path as the user gave it, relative: under a folder given as an absolute path, the folder's own name and the
   * path below it (`EXCH01/Logging/…`, not `/cases/2021/EXCH01/Logging/…`); members of a zip are
   * `bundle.zip!inner/path`.
   */
  display: string;
  /** Path relative to the input root, with `/` separators, for file-system checks (web shell places, …). */
  relative: string;
  /** The server this file belongs to. */
  host: string;
  /** Compressed size for bundles, on-disk size otherwise. */
  size: number;
  /** A plain file on disk (not a bundle member): the scanner may read it itself, with blocking reads. */
  path?: string;
  open(): Promise<AsyncIterable<Buffer>>;
}

export interface InputProblem {
  display: string;
  problem: string;
  /** An archive refused or cut at a bound: some of its content was not examined. */
  incomplete?: boolean;
}

/** A zip with more members than this is refused rather than walked for hours. */
const MAX_ZIP_ENTRIES = 200_000;

/** Folder names under which Exchange/IIS/Windows keep their files: the segment above them names the server. */
const SERVER_CHILDREN = new Set([
  'logging',
  'inetpub',
  'program files',
  'programdata',
  'windows',
  'exchange server',
  'v15',
]);

/** The server a file belongs to: the folder above its `Logging`/`inetpub`/… folder, else the input's own name. */
export function hostFor(relativePath: string, inputName: string, forced?: string): string {
  if (forced) return forced;
  const parts = relativePath.split('/');
  for (let i = 0; i < parts.length - 1; i++) {
    if (SERVER_CHILDREN.has(parts[i]!.toLowerCase())) return i > 0 ? parts[i - 1]! : inputName;
  }
  return inputName;
}

function magic(path: string): 'zip' | 'gzip' | 'plain' {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const bytesRead = readSync(fd, buf, 0, 4, 0);
    if (bytesRead >= 4 && buf.readUInt32LE(0) === 0x04034b50) return 'zip';
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
    return 'plain';
  } finally {
    closeSync(fd);
  }
}

function inputName(path: string): string {
  return basename(path).replace(/\.(zip|gz)$/i, '') || path;
}

/** How a given path is shown: as typed when relative, by its last segment when absolute. `/`-separated. */
export function shownRoot(path: string): string {
  const shown = isAbsolute(path) ? basename(path) || path : normalize(path);
  return shown.split(sep).join('/').replace(/\/+$/, '') || '.';
}

function shownPath(root: string, rel: string): string {
  return root === '.' ? rel : `${root}/${rel}`;
}

/** A unit of work for one worker: a plain or gzip file, or a whole zip bundle (its members are read in order). */
export interface Job {
  /** `auto`: a file whose first bytes have not been read yet (the worker reads them: plain, gzip or zip). */
  kind: 'file' | 'gzip' | 'zip' | 'auto';
  path: string;
  /** Path relative to the input root, `/`-separated. */
  relative: string;
  /** The path as reports show it (see InputFile.display). */
  display: string;
  /** Name of the input root, the host when no folder names one. */
  inputName: string;
  host?: string;
  size: number;
  /** Bounds for bundles (zip, gzip); default DEFAULT_ARCHIVE_LIMITS. */
  limits?: ArchiveLimits;
}

/**
 * Lists the jobs of the given paths, largest first so workers finish together. Synchronous on purpose: a stat
 * of thousands of log files costs microseconds each, while awaiting each one costs a round trip through the
 * thread pool (measured: a fifth of a hunt's time on 1,000 files). Files inside folders are only stat'ed; their
 * first bytes (zip, gzip or plain) are read by the worker that takes the job, in parallel.
 */
export async function enumerateJobs(
  paths: readonly string[],
  opts: { host?: string; limits?: ArchiveLimits } = {},
): Promise<{ jobs: Job[]; problems: InputProblem[] }> {
  const jobs: Job[] = [];
  const problems: InputProblem[] = [];
  for (const root of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(root).isDirectory();
    } catch (err) {
      problems.push({
        display: shownRoot(root),
        problem: `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      });
      continue;
    }
    const name = inputName(root);
    const shown = shownRoot(root);
    if (isDir) walk(root, root, { name, shown, host: opts.host }, jobs, problems);
    else addFile(root, basename(root), { name, shown, host: opts.host }, jobs, problems, true);
  }
  if (opts.limits) for (const j of jobs) j.limits = opts.limits;
  jobs.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1));
  return { jobs, problems };
}

/** What every file under one given path shares. */
interface RootInfo {
  name: string;
  /** The given path as shown (shownRoot); for a single file given, its display. */
  shown: string;
  host: string | undefined;
}

function walk(dir: string, root: string, info: RootInfo, jobs: Job[], problems: InputProblem[]) {
  let handle: ReturnType<typeof opendirSync>;
  try {
    handle = opendirSync(dir);
  } catch (err) {
    problems.push({
      display: shownPath(info.shown, relative(root, dir).split(sep).join('/')),
      problem: `cannot read folder (${(err as NodeJS.ErrnoException).code})`,
    });
    return;
  }
  try {
    for (let e = handle.readSync(); e; e = handle.readSync()) {
      const path = join(dir, e.name);
      // Symbolic links are not followed: no loops, no escaping the folder the user named.
      if (e.isDirectory()) walk(path, root, info, jobs, problems);
      else if (e.isFile()) addFile(path, relative(root, path).split(sep).join('/'), info, jobs, problems);
    }
  } finally {
    handle.closeSync();
  }
}

function addFile(
  path: string,
  rel: string,
  info: RootInfo,
  jobs: Job[],
  problems: InputProblem[],
  /** A file given by itself: its first bytes are read now, and it is shown as given. */
  given = false,
) {
  const display = given ? info.shown : shownPath(info.shown, rel);
  try {
    const size = statSync(path).size;
    const kind = given ? magic(path) : undefined;
    jobs.push({
      kind: kind === undefined ? 'auto' : kind === 'plain' ? 'file' : kind,
      path,
      relative: rel,
      display,
      inputName: info.name,
      host: info.host,
      size,
    });
  } catch (err) {
    problems.push({
      display,
      problem: `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    });
  }
}

/** The files of one job, each opened only when the consumer asks; a zip is closed when the last member is done. */
export async function* jobFiles(job: Job): AsyncGenerator<InputFile | InputProblem> {
  if (job.kind === 'auto') {
    let kind: ReturnType<typeof magic>;
    try {
      kind = magic(job.path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      yield { display: job.display, problem: `cannot read (${e.code ?? e.message})` };
      return;
    }
    yield* jobFiles({ ...job, kind: kind === 'plain' ? 'file' : kind });
    return;
  }
  const limits = job.limits ?? DEFAULT_ARCHIVE_LIMITS;
  if (job.kind === 'zip') {
    yield* zipInputs(job, job.host ?? inputName(job.path), Boolean(job.host), limits);
    return;
  }
  const host = hostFor(job.relative, job.inputName, job.host);
  if (job.kind === 'gzip') {
    const budget = new ArchiveBudget(job.display, job.size, limits);
    yield {
      display: job.display,
      relative: job.relative.replace(/\.gz$/i, ''),
      host,
      size: job.size,
      open: async () => bounded(createReadStream(job.path).pipe(createGunzip()), budget, job.display),
    };
    if (budget.exceeded) yield { display: job.display, problem: budget.exceeded, incomplete: true };
    return;
  }
  yield {
    display: job.display,
    relative: job.relative,
    host,
    size: job.size,
    path: job.path,
    open: async () => readChunksSync(job.path),
  };
}

/**
 * Plain files are read with blocking 4 MB reads: a hunt thread has nothing else to do while it waits, and this
 * avoids the idle gaps and per-chunk bookkeeping of an asynchronous stream.
 */
async function* readChunksSync(path: string, chunk = 4 << 20): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    // Small files get a buffer of their size (+1 to see the end in one read), not a whole chunk.
    const size = Math.min(chunk, fstatSync(fd).size + 1);
    for (;;) {
      const buf = Buffer.allocUnsafe(size);
      const n = readSync(fd, buf, 0, size, null);
      if (n === 0) return;
      yield n === size ? buf : buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(
      path,
      { lazyEntries: true, autoClose: false, strictFileNames: false, validateEntrySizes: true },
      (err, zip) => (err ? reject(err) : resolve(zip)),
    );
  });
}

function readEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const list: yauzl.Entry[] = [];
    zip.on('entry', (e: yauzl.Entry) => {
      if (!e.fileName.endsWith('/')) list.push(e);
      zip.readEntry();
    });
    zip.on('end', () => resolve(list));
    zip.on('error', reject);
    zip.readEntry();
  });
}

function readLocalDataStart(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<number> {
  return new Promise((resolve, reject) => {
    zip.readLocalFileHeader(entry, { minimal: true }, (err, header) =>
      err ? reject(err) : resolve(header.fileDataStart),
    );
  });
}

async function* zipInputs(
  job: Job,
  name: string,
  forced: boolean,
  limits: ArchiveLimits,
): AsyncGenerator<InputFile | InputProblem> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(job.path);
  } catch (err) {
    yield {
      display: job.display,
      problem: `not a readable zip: ${(err as Error).message}`,
      incomplete: true,
    };
    return;
  }
  try {
    if (zip.entryCount > MAX_ZIP_ENTRIES) {
      yield {
        display: job.display,
        problem: `zip has ${zip.entryCount} members, more than ${MAX_ZIP_ENTRIES}; unpack it and hunt the folder`,
        incomplete: true,
      };
      return;
    }
    let entries: yauzl.Entry[];
    const spans: { name: string; start: number; end: number }[] = [];
    try {
      entries = await readEntries(zip);
      for (const e of entries) {
        const dataStart = await readLocalDataStart(zip, e);
        spans.push({
          name: e.fileName,
          start: e.relativeOffsetOfLocalHeader,
          end: dataStart + e.compressedSize,
        });
      }
    } catch (err) {
      yield { display: job.display, problem: `damaged zip: ${(err as Error).message}`, incomplete: true };
      return;
    }
    // Members that share compressed data are how a small zip declares terabytes (one deflate stream read once per
    // member): no legitimate archiver writes them, so the whole archive is refused before anything is inflated.
    const overlap = overlappingEntries(spans);
    if (overlap) {
      yield {
        display: job.display,
        problem: `zip refused, nothing read: members ${overlap[0]} and ${overlap[1]} share compressed data (overlapping entries, a zip bomb)`,
        incomplete: true,
      };
      return;
    }
    entries.sort((a, b) => (a.fileName < b.fileName ? -1 : a.fileName > b.fileName ? 1 : 0));
    const budget = new ArchiveBudget(job.display, job.size, limits);
    for (let i = 0; i < entries.length; i++) {
      if (budget.exceeded) {
        yield {
          display: job.display,
          problem: `archive incomplete: ${budget.exceeded}; ${entries.length - i} more member(s) not read`,
          incomplete: true,
        };
        return;
      }
      const entry = entries[i]!;
      const inner = entry.fileName.replace(/\\/g, '/');
      const display = `${job.display}!${inner}`;
      yield {
        display,
        relative: `${job.relative}/${inner.replace(/\.gz$/i, '')}`,
        host: forced ? name : hostFor(inner, name),
        size: entry.compressedSize,
        open: async () => {
          const stream = await zip.openReadStreamPromise(entry);
          return bounded(/\.gz$/i.test(inner) ? stream.pipe(createGunzip()) : stream, budget, display);
        },
      };
    }
    if (budget.exceeded)
      yield { display: job.display, problem: `archive incomplete: ${budget.exceeded}`, incomplete: true };
  } finally {
    zip.close();
  }
}
