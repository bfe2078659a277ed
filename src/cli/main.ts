/**
 * The `bulwark` command line: argument parsing and error reporting only; every command delegates to the
 * capability folders. Returns the exit code instead of exiting so tests run it in-process.
 */
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import {
  defaultDataDir,
  ImportError,
  type ImportFormat,
  type KnowledgeBase,
  loadKnowledgeBase,
} from '../advisories/index.js';
import { JOB_STATES } from '../api/jobs.js';
import { DataFileError, escapeLines } from '../core/index.js';
import { runImport, runList, runShow, runValidate } from './commands/advisories.js';
import { registerAgentGroup } from './commands/agent-group.js';
import { runCheck } from './commands/check.js';
import { runExchange } from './commands/exchange.js';
import type { GatewayCliOptions } from './commands/gateway.js';
import type { HuntCliOptions } from './commands/hunt.js';
import type { LabExchangeOptions } from './commands/lab.js';
import type { LabFleetOptions } from './commands/lab-fleet.js';
import type { ScanCliOptions } from './commands/scan.js';
import type { ShieldExportOptions } from './commands/shield.js';
import { EXIT, type Io, processIo, UsageError } from './io.js';

const VERSION = '0.1.0';

interface ImportCliOptions {
  json?: boolean;
  format?: ImportFormat;
  dryRun?: boolean;
  server?: string;
  tokenFile?: string;
  wait?: boolean;
  waitTimeout?: number;
  idempotencyKey?: string;
}

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let code: number = EXIT.clean;
  const debug = argv.includes('--debug');
  const program = new Command('bulwark')
    .description(
      'Vulnerability response for MSPs and IT teams: exposure, shielding, hunting, patching, reporting.',
    )
    .version(VERSION, '-V, --version')
    .option(
      '--data-dir <dir>',
      'data directory for imported advisories (env BULWARK_DATA_DIR)',
      defaultDataDir(io.env),
    )
    .option('--no-color', 'never colour output (also NO_COLOR=1)')
    .option('--debug', 'show stack traces on errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      outputError: (text, write) => write(`bulwark: ${text.replace(/^error: /, '')}`),
    });

  const globals = () => {
    const g = program.opts<{ dataDir: string; color: boolean }>();
    if (!g.color) io.color = false;
    return { dataDir: resolve(io.cwd, g.dataDir) };
  };
  let kbCache: KnowledgeBase | undefined;
  const kb = () => {
    kbCache ??= loadKnowledgeBase({ dataDir: globals().dataDir });
    return kbCache;
  };

  // --- backup, restore and audit verify (embedded database and audit log) ---
  program
    .command('backup')
    .description('copy the embedded SQLite database to a file, also while the server runs')
    .requiredOption('--out <file>', 'backup file to write (or an existing directory to put one in)')
    .option('--database <url>', 'the server database URL (env BULWARK_DATABASE_URL); PostgreSQL is refused')
    .option('--json', 'print one JSON object')
    .action(async (opts: { out: string; database?: string; json?: boolean }) => {
      const { runBackup } = await import('./commands/backup.js');
      code = await runBackup(io, { ...opts, dataDir: globals().dataDir, out: resolve(io.cwd, opts.out) });
    });
  program
    .command('restore')
    .description('replace the embedded SQLite database with a backup (server stopped; keeps the old one)')
    .argument('<file>', 'backup file written by bulwark backup')
    .option('--force', "restore even if the backup's audit log is broken")
    .option('--database <url>', 'the server database URL (env BULWARK_DATABASE_URL); PostgreSQL is refused')
    .option('--json', 'print one JSON object')
    .action(async (file: string, opts: { force?: boolean; database?: string; json?: boolean }) => {
      const { runRestore } = await import('./commands/backup.js');
      code = await runRestore(io, { ...opts, dataDir: globals().dataDir, file: resolve(io.cwd, file) });
    });
  program
    .command('audit')
    .description('the server audit log')
    .command('verify')
    .description('check the audit log hash chain; exit 1 if a record was changed, removed or inserted')
    .option('--database <url>', 'PostgreSQL URL (env BULWARK_DATABASE_URL); default: the embedded database')
    .option('--expect-head <hash>', 'a head hash recorded earlier: also detect records removed from the end')
    .option('--json', 'print one JSON object')
    .action(async (opts: { database?: string; expectHead?: string; json?: boolean }) => {
      const { runAuditVerify } = await import('./commands/audit.js');
      code = await runAuditVerify(io, { ...opts, dataDir: globals().dataDir });
    });
  // --- end backup, restore and audit verify ---

  program
    .command('exchange')
    .description('identify an Exchange build and report the CVEs it is exposed to and the smallest fix')
    .argument(
      '<build>',
      'Exchange build, four numbers such as 15.1.2176.2 (as ExSetup.exe or X-OWA-Version report it)',
    )
    .option('--json', 'print one JSON object')
    .action((build: string, opts: { json?: boolean }) => {
      code = runExchange(io, kb(), build, opts);
    });

  program
    .command('check')
    .description('verdicts with provenance for every asset in a facts file')
    .requiredOption('--facts <file>', 'YAML or JSON facts: one asset, a list, or { assets: [...] }')
    .option('--advisory <id>', 'only this advisory')
    .option('--json', 'print one JSON object')
    .action((opts: { facts: string; json?: boolean; advisory?: string }) => {
      code = runCheck(io, kb(), { ...opts, facts: resolve(io.cwd, opts.facts) });
    });

  /** Option parser for whole numbers within bounds: a bad value is a usage error naming the option. */
  const int = (name: string, min: number, max: number) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${name} takes a whole number from ${min} to ${max}`);
    return n;
  };
  const collect = (value: string, previous: string[]) => [...previous, value];
  type LabFleetCliOptions = Omit<LabFleetOptions, 'exchangeShare'> & { exchangeShare?: number };
  program
    .command('hunt')
    .description(
      'look for compromise in Exchange/IIS logs, event log exports and server files (folders, files, .zip, .gz)',
    )
    .argument('<path...>', 'log folders, files or bundles; a server drive root for file checks')
    .option('--json', 'print one JSON object')
    .option('--csv', 'print the findings as CSV')
    .option('--html <file>', 'also write a self-contained HTML report to FILE')
    .option('--sigma <path>', 'add Sigma rules from a file or folder (repeatable)', collect, [])
    .option(
      '--iocs <file>',
      'add an IOC list: MSTIC CSV or one SHA-256 / IP / path per line (repeatable)',
      collect,
      [],
    )
    .option(
      '--advisory <id>',
      "only this advisory's hunt rules and IOCs (default: every advisory that has some)",
    )
    .option('--strict-2021-03-02', 'also apply the original 2021-03-02 (blog) conditions, which are broader')
    .option('--host <name>', 'attribute everything to this server name')
    .option(
      '--max-archive-bytes <size>',
      'decompressed bytes one .zip/.gz may expand to, e.g. 64G, 500M (default 64G)',
    )
    .option('--max-archive-ratio <n>', 'decompressed bytes per byte of a .zip/.gz on disk (default 100)')
    .option('--workers <n>', 'worker threads (default: one per core for large inputs)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 64)
        throw new UsageError('--workers takes a whole number from 1 to 64');
      return n;
    })
    .option('--push <url>', 'upload the host reports to this Bulwark server, which matches them to assets')
    .option('--tenant <id>', 'with --push: the tenant whose servers these are')
    .option('--token-file <file>', 'with --push: file holding the API token (default: env BULWARK_TOKEN)')
    .option(
      '--addresses <file>',
      'with --push: CSV rows host,address… — addresses each server is known by, to match assets registered by address',
    )
    .action(async (paths: string[], opts: HuntCliOptions) => {
      // Loaded on demand: the other commands should not pay for the hunt engine's start-up.
      const { runHunt } = await import('./commands/hunt.js');
      code = await runHunt(
        io,
        kb(),
        paths.map((p) => resolve(io.cwd, p)),
        {
          ...opts,
          sigma: opts.sigma.map((p) => resolve(io.cwd, p)),
          iocs: opts.iocs.map((p) => resolve(io.cwd, p)),
          html: opts.html ? resolve(io.cwd, opts.html) : undefined,
          tokenFile: opts.tokenFile ? resolve(io.cwd, opts.tokenFile) : undefined,
          addresses: opts.addresses ? resolve(io.cwd, opts.addresses) : undefined,
        },
      );
    });

  program
    .command('scan')
    .description(
      'find Exchange servers from the outside: build, CVEs, ProxyLogon check (safe), TLS certificate',
    )
    .argument('[target...]', 'URLs, host names, IPv4/IPv6 addresses, CIDR ranges')
    .option('--targets <file>', 'read targets from FILE, one per line')
    .option(
      '--targets-file <file>',
      'CSV or YAML rows of target,tenant[,asset]: scan many customers in one run, each result pushed to its tenant',
    )
    .option('--ports <list>', 'ports for targets without one, e.g. 443,8443 (default 443, then 80 over HTTP)')
    .option('--sni <name>', 'TLS server name and Host header for address targets')
    .option('--force', 'allow CIDR ranges larger than /20 (4,096 addresses)')
    .option('--passive', 'skip the active ProxyLogon check')
    .option('--concurrency <n>', 'hosts scanned at once (default 64)', int('--concurrency', 1, 4096))
    .option('--per-host <n>', 'connections at once to one host (default 2)', int('--per-host', 1, 64))
    .option(
      '--timeout <ms>',
      'deadline per request in milliseconds (default 5000)',
      int('--timeout', 100, 600_000),
    )
    .option('--retries <n>', 'retries after a connect failure (default 1)', int('--retries', 0, 5))
    .option('--json', 'one JSON object per host as it finishes, then a summary object (JSON Lines)')
    .option('--csv', 'one CSV row per host')
    .option(
      '--push <url>',
      "register the Exchange servers found as assets on this Bulwark server, with the check's shield and patch observations",
    )
    .option('--tenant <id>', 'with --push: the tenant they belong to')
    .option(
      '--asset <id>',
      'with --push and one target: update this existing asset instead of adding host_port',
    )
    .option('--token-file <file>', 'with --push: file holding the API token (default: env BULWARK_TOKEN)')
    .action(async (targets: string[], opts: ScanCliOptions) => {
      const { runScan } = await import('./commands/scan.js');
      code = await runScan(io, kb(), targets, {
        ...opts,
        targets: opts.targets ? resolve(io.cwd, opts.targets) : undefined,
        targetsFile: opts.targetsFile ? resolve(io.cwd, opts.targetsFile) : undefined,
        tokenFile: opts.tokenFile ? resolve(io.cwd, opts.tokenFile) : undefined,
      });
    });

  const lab = program.command('lab').description('emulated servers for tests and demos (loopback only)');
  lab
    .command('exchange')
    .description(
      'run one emulated Exchange OWA/ECP front end of a given build (a test fixture, not a real server)',
    )
    .requiredOption('--build <build>', 'Exchange build to emulate, e.g. 15.1.2176.2')
    .option('--shielded', 'behave as if the EOMT URL Rewrite mitigation were installed')
    .option('--http', 'plain HTTP instead of HTTPS')
    .option('--host <address>', 'loopback address to listen on (default 127.0.0.1)')
    .option('--port <n>', 'port (default: any free port)', int('--port', 0, 65535))
    .option('--name <name>', 'front-end server name (X-FEServer)')
    .option('--log-dir <dir>', 'write HttpProxy and IIS logs of what it receives under DIR')
    .option('--hide-version-header', 'do not send X-OWA-Version')
    .option('--hide-manifest', 'answer 404 for /ecp/Current/exporttool/… (build probes still work)')
    .action(async (opts: LabExchangeOptions) => {
      const { runLabExchange } = await import('./commands/lab.js');
      code = await runLabExchange(io, kb(), {
        ...opts,
        logDir: opts.logDir ? resolve(io.cwd, opts.logDir) : undefined,
      });
    });
  lab
    .command('farm')
    .description('run many emulated Exchange servers on 127.0.x.y addresses; prints the ground truth as JSON')
    .option(
      '--count <n>',
      'servers (default: every 2013/2016/2019 CU of the catalog in every state)',
      int('--count', 1, 60_000),
    )
    .option('--http', 'plain HTTP instead of HTTPS')
    .option('--same-address', 'all on 127.0.0.1 with one port each')
    .option('--log-dir <dir>', 'each server logs under DIR/<server name>/')
    .action(async (opts: { count?: number; http?: boolean; logDir?: string; sameAddress?: boolean }) => {
      const { runLabFarm } = await import('./commands/lab.js');
      code = await runLabFarm(io, kb(), {
        ...opts,
        logDir: opts.logDir ? resolve(io.cwd, opts.logDir) : undefined,
      });
    });

  lab
    .command('fleet')
    .description(
      'simulate N agents across M tenants on the real agent protocol against a server (credentials from BULWARK_TOKEN)',
    )
    .requiredOption('--agents <n>', 'simulated agents', int('--agents', 1, 200_000))
    .requiredOption(
      '--tenants <n>',
      'tenants, created when missing (fleet-001 …)',
      int('--tenants', 1, 10_000),
    )
    .requiredOption('--server <url>', 'the Bulwark server, e.g. http://127.0.0.1:8440')
    .option('--tenant-prefix <prefix>', 'tenant ids are PREFIX-001 … (default fleet)')
    .option('--token-file <file>', 'file holding the API token (default: env BULWARK_TOKEN)')
    .option(
      '--sources <n>',
      'loopback source addresses 127.0.0.1… (default: one per 20,000 agents)',
      int('--sources', 1, 10_000),
    )
    .option('--heartbeat <s>', "heartbeat interval (default: the server's)", int('--heartbeat', 1, 3600))
    .option(
      '--exchange-share <percent>',
      'share of Exchange servers (default 30)',
      int('--exchange-share', 0, 100),
    )
    .option(
      '--exchange-emulators <k>',
      'back the first K Exchange agents by lab Exchange emulators',
      int('--exchange-emulators', 1, 1000),
    )
    .option(
      '--duration <s>',
      'exit this long after the fleet is online (default: on SIGINT/SIGTERM)',
      int('--duration', 0, 604_800),
    )
    .option('--json', 'print JSON (the agents too)')
    .action(async (opts: LabFleetCliOptions) => {
      const { runLabFleet } = await import('./commands/lab-fleet.js');
      code = await runLabFleet(io, kb(), {
        ...opts,
        exchangeShare: opts.exchangeShare === undefined ? undefined : opts.exchangeShare / 100,
        tokenFile: opts.tokenFile ? resolve(io.cwd, opts.tokenFile) : undefined,
      });
    });

  program
    .command('gateway')
    .description(
      'reverse proxy that enforces virtual patches in front of OWA/ECP (reloads on SIGHUP and file change)',
    )
    .option(
      '--config <file>',
      'gateway configuration (YAML or JSON): listeners, TLS, routes, rules, limits, logs',
    )
    .option('--listen <host:port>', 'quick form: where to listen, e.g. 127.0.0.1:8443')
    .option('--upstream <url>', 'quick form: the server to protect, e.g. https://10.0.0.5')
    .option('--advisory <id>', "quick form: enforce this advisory's virtual patch, e.g. proxylogon-2021-03")
    .option('--strict', "quick form: include the advisory's broader -strict patches")
    .option('--detect', 'quick form: detection only (log, never block)')
    .option('--access-log <file>', "quick form: JSON access log ('-' for standard output)")
    .option('--audit-log <file>', 'quick form: JSON audit log of blocked and flagged requests')
    .option('--upstream-ca <file>', "quick form: PEM of the upstream's CA or of its self-signed certificate")
    .option(
      '--upstream-pin <pin>',
      "quick form: trust the upstream's certificate by pin (sha256//… as errors print it)",
    )
    .option(
      '--upstream-insecure',
      "quick form: don't verify the upstream's certificate at all (not recommended)",
    )
    .option(
      '--no-rules',
      'run without any advisory or rule (a plain proxy that blocks nothing); required for that',
    )
    .option('--json', 'start-up description and upstream errors as JSON lines (standard error)')
    .action(async (opts: GatewayCliOptions) => {
      const { runGateway } = await import('./commands/gateway.js');
      code = await runGateway(io, kb(), {
        ...opts,
        config: opts.config ? resolve(io.cwd, opts.config) : undefined,
        upstreamCa: opts.upstreamCa ? resolve(io.cwd, opts.upstreamCa) : undefined,
      });
    });

  program
    .command('serve')
    .description(
      'run the control-plane server: tenants, assets, advisories, findings and exposure over an HTTP API',
    )
    .option('--config <file>', 'server configuration file (YAML or JSON); see docs/configuration.md')
    .option('--host <host>', 'address to listen on (default 127.0.0.1; env BULWARK_HOST)')
    .option('--port <port>', 'port to listen on (default 8440; env BULWARK_PORT)')
    .option(
      '--database <url>',
      'postgres://user:password@host:5432/db (env BULWARK_DATABASE_URL); default: embedded SQLite in the data directory',
    )
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option(
      '--log-format <format>',
      'auto (readable lines on a terminal, JSON otherwise), json or pretty (default auto; env BULWARK_LOG_FORMAT)',
    )
    .action(async (opts: import('./commands/serve.js').ServeCliOptions) => {
      const { runServe } = await import('./commands/serve.js');
      const g = program.opts<{ dataDir: string }>();
      const explicit = program.getOptionValueSource('dataDir') !== 'default' || io.env.BULWARK_DATA_DIR;
      code = await runServe(io, explicit ? resolve(io.cwd, g.dataDir) : undefined, opts);
    });

  const shield = program.command('shield').description('virtual patches: export them for other WAFs and IIS');
  shield
    .command('export')
    .description(
      "translate SecLang rules (files, or an advisory's virtual patch) for ModSecurity, nginx, IIS or HAProxy",
    )
    .argument('[file...]', 'SecLang rule files')
    .addOption(
      new Option('--format <format>', 'target')
        .choices(['modsecurity', 'nginx', 'iis', 'haproxy'])
        .makeOptionMandatory(),
    )
    .option('--advisory <id>', "export this advisory's virtual patch, e.g. proxylogon-2021-03")
    .option('--strict', "include the advisory's broader -strict patches")
    .option('--lossy', 'drop decoding steps the target cannot express (then encoded evasions get through)')
    .option('--allow-crs-ids', 'allow rule ids in the CRS ranges (modsecurity)')
    .option('--json', 'print one JSON object with the text, skipped rules and notes')
    .option('--require-all', 'exit 1 when the target cannot express some rule (default: report it, exit 0)')
    .action(async (files: string[], opts: ShieldExportOptions) => {
      const { runShieldExport } = await import('./commands/shield.js');
      code = runShieldExport(
        io,
        kb(),
        files.map((f) => resolve(io.cwd, f)),
        opts,
      );
    });

  const advisories = program.command('advisories').description('the advisory knowledge base');
  advisories
    .command('list')
    .description('list loaded advisories (built-in and imported)')
    .option('--json', 'print one JSON object')
    .action((opts: { json?: boolean }) => {
      code = runList(io, kb(), opts);
    });
  advisories
    .command('show')
    .argument('<id>', 'advisory id, e.g. proxylogon-2021-03')
    .description('show one advisory')
    .option('--json', 'print the advisory as JSON')
    .action((id: string, opts: { json?: boolean }) => {
      code = runShow(io, kb(), id, opts);
    });
  advisories
    .command('validate')
    .argument('<file...>', 'advisory files (YAML or JSON)')
    .description('check advisory files against the schema; exit 1 if any is invalid')
    .option('--json', 'print one JSON object')
    .action((files: string[], opts: { json?: boolean }) => {
      code = runValidate(
        io,
        files.map((f) => resolve(io.cwd, f)),
        opts,
      );
    });
  advisories
    .command('import')
    .argument('<file...>', 'CISA KEV catalog, CVE JSON 5, NVD API 2.0, CSAF 2.0, OSV or MSRC CVRF files')
    .description('convert feed files into advisories saved in the data directory')
    .addOption(
      new Option('--format <format>', 'skip format detection').choices([
        'kev',
        'cve5',
        'nvd',
        'csaf',
        'osv',
        'cvrf',
      ]),
    )
    .option('--dry-run', 'convert and report, write nothing')
    .option('--json', 'print one JSON object')
    .option('--server <url>', 'upload to this Bulwark server instead: it imports and recomputes as a job')
    .option('--token-file <file>', 'with --server: file holding the API token (default: env BULWARK_TOKEN)')
    .option('--wait', 'with --server: follow the job to its end; exit 1 unless it succeeded')
    .option(
      '--wait-timeout <seconds>',
      'with --wait: stop waiting after this long (default 3600)',
      int('--wait-timeout', 1, 7 * 24 * 3600),
    )
    .option('--idempotency-key <key>', 'with --server: the same key again answers with the same job')
    .action(async (files: string[], opts: ImportCliOptions) => {
      if (opts.server) {
        if (files.length !== 1)
          throw new UsageError('--server imports one file per job; run the command once per file');
        if (opts.dryRun) throw new UsageError('--dry-run converts locally; leave out --server');
        const { runImportRemote } = await import('./commands/advisories.js');
        code = await runImportRemote(io, resolve(io.cwd, files[0]!), {
          ...opts,
          server: opts.server,
          tokenFile: opts.tokenFile ? resolve(io.cwd, opts.tokenFile) : undefined,
        });
        return;
      }
      for (const flag of ['wait', 'waitTimeout', 'idempotencyKey', 'tokenFile'] as const)
        if (opts[flag] !== undefined)
          throw new UsageError(
            `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --server URL`,
          );
      code = runImport(
        io,
        kb(),
        files.map((f) => resolve(io.cwd, f)),
        { ...opts, dataDir: globals().dataDir },
      );
    });

  const jobs = program
    .command('jobs')
    .description("a Bulwark server's background jobs (imports, recomputes)");
  const serverOptions = (command: Command) =>
    command
      .requiredOption('--server <url>', 'the Bulwark server, e.g. http://127.0.0.1:8440')
      .option('--token-file <file>', 'file holding the API token (default: env BULWARK_TOKEN)');
  const withServer = <T extends { tokenFile?: string }>(opts: T) => ({
    ...opts,
    tokenFile: opts.tokenFile ? resolve(io.cwd, opts.tokenFile) : undefined,
  });
  serverOptions(jobs.command('list'))
    .description('jobs the token sees, newest first')
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(JOB_STATES))
    .option('--kind <kind>', 'only jobs of this kind, e.g. advisories.recompute')
    .option('--tenant <id>', "only this tenant's jobs")
    .option('--limit <n>', 'jobs per page (default 100)', int('--limit', 1, 1000))
    .option('--after <cursor>', 'the next page: the cursor the previous page printed')
    .option('--json', 'print the page as one JSON object')
    .action(async (opts: import('./commands/jobs.js').JobsListOptions) => {
      const { runJobsList } = await import('./commands/jobs.js');
      code = await runJobsList(io, withServer(opts));
    });
  serverOptions(jobs.command('show'))
    .description('one job: state, progress, attempts, outcome; exit 1 if it failed, was cancelled or expired')
    .argument('<id>', 'job id, e.g. job_…')
    .option('--json', 'print the job as one JSON object')
    .action(async (id: string, opts: import('./commands/jobs.js').JobsCliOptions) => {
      const { runJobsShow } = await import('./commands/jobs.js');
      code = await runJobsShow(io, id, withServer(opts));
    });
  serverOptions(jobs.command('cancel'))
    .description('cancel a job: a queued one at once, a running one when it next checks')
    .argument('<id>', 'job id, e.g. job_…')
    .option('--json', 'print the job as one JSON object')
    .action(async (id: string, opts: import('./commands/jobs.js').JobsCliOptions) => {
      const { runJobsCancel } = await import('./commands/jobs.js');
      code = await runJobsCancel(io, id, withServer(opts));
    });

  registerAgentGroup(program, {
    io,
    setCode: (c) => {
      code = c;
    },
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.clean : EXIT.usage;
    }
    const known = err instanceof UsageError || err instanceof DataFileError || err instanceof ImportError;
    // Messages quote what they refuse (a line of a targets file, a field of an imported feed, a server's answer):
    // shown line by line, never obeyed by the terminal.
    io.err(`bulwark: ${known ? '' : 'internal error: '}${escapeLines((err as Error).message)}\n`);
    if (debug) io.err(`${(err as Error).stack}\n`);
    else if (!known) io.err('(run with --debug for details)\n');
    return EXIT.usage;
  }
}
