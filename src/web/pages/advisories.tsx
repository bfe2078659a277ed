/**
 * The advisories the server knows: search by id or title, paged; the URL holds the search and page. Each id leads
 * to the advisory's page, its Board link to its response board. Operators (write over every tenant) import an
 * advisory file here and follow its recompute job to the end.
 */
import { type FormEvent, useEffect, useState } from 'react';
import {
  ADVISORY_FILE_ACCEPT,
  type AdvisorySummary,
  advisoryApi,
  advisoryContentType,
  api,
  type Job,
  messageOf,
  type Page,
} from '../api';
import { useJobUpdates } from '../live';
import { Link, navigate, pathOf, useLocation } from '../router';
import { canWrite, useMe } from '../session';
import { Message, PageHeading } from '../ui';
import { JobProgress } from './jobs';

const PAGE_SIZE = 50;

function href(q: string, offset: number): string {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (offset > 0) params.set('offset', String(offset));
  const s = params.toString();
  return s ? `/advisories?${s}` : '/advisories';
}

export function AdvisoriesPage() {
  const { query } = useLocation();
  const q = query.get('q') ?? '';
  const offset = Math.max(0, Math.floor(Number(query.get('offset') ?? 0)) || 0);
  const [page, setPage] = useState<Page<AdvisorySummary>>();
  const [error, setError] = useState('');
  const [imported, setImported] = useState(0);
  const me = useMe();

  // biome-ignore lint/correctness/useExhaustiveDependencies: a finished import loads the page again
  useEffect(() => {
    let live = true;
    setError('');
    api
      .advisories({ q, limit: PAGE_SIZE, offset })
      .then((p) => live && setPage(p))
      .catch((err) => live && setError(messageOf(err)));
    return () => {
      live = false;
    };
  }, [q, offset, imported]);

  function search(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const value = new FormData(e.currentTarget).get('q');
    navigate(href(typeof value === 'string' ? value.trim() : '', 0));
  }

  const last = page ? Math.min(page.offset + page.items.length, page.total) : 0;
  return (
    <main id="main">
      <PageHeading title="Advisories">Advisories</PageHeading>
      <search>
        <form className="inline-form" onSubmit={search}>
          <label htmlFor="advisory-q">Search by id or title</label>
          <input id="advisory-q" name="q" type="search" defaultValue={q} key={q} maxLength={200} />
          <button type="submit">Search</button>
        </form>
      </search>
      {canWrite(me) && me.tenant === null ? (
        <ImportAdvisory onDone={() => setImported((n) => n + 1)} />
      ) : null}
      <Message kind="error">{error}</Message>
      {page ? (
        <>
          <p role="status" className="count">
            {page.total === 0
              ? q
                ? `No advisory matches “${q}”.`
                : 'No advisories are loaded.'
              : `${page.offset + 1}–${last} of ${page.total}`}
          </p>
          {page.items.length > 0 ? (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Advisories</caption>
                <thead>
                  <tr>
                    <th scope="col">Advisory</th>
                    <th scope="col">Title</th>
                    <th scope="col">CVEs</th>
                    <th scope="col" className="wide-only">
                      Products
                    </th>
                    <th scope="col" className="wide-only">
                      Published
                    </th>
                    <th scope="col">Response</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((a) => (
                    <tr key={a.id}>
                      <td className="nowrap">
                        <Link to={pathOf('advisories', a.id)}>{a.id}</Link>
                        {a.kev ? (
                          <span className="badge" title="Known exploited (CISA KEV)">
                            KEV
                          </span>
                        ) : null}
                      </td>
                      <td>{a.title}</td>
                      <td>{a.cves.join(', ')}</td>
                      <td className="wide-only">{a.products.join(', ')}</td>
                      <td className="wide-only nowrap">{a.published ?? 'unknown'}</td>
                      <td>
                        <Link
                          to={pathOf('advisories', a.id, 'board')}
                          aria-label={`Response board of ${a.id}`}
                        >
                          Board
                        </Link>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <nav className="pager" aria-label="Pages of advisories">
            {offset > 0 ? <Link to={href(q, Math.max(0, offset - PAGE_SIZE))}>Previous page</Link> : null}
            {last < page.total ? <Link to={href(q, offset + PAGE_SIZE)}>Next page</Link> : null}
          </nav>
        </>
      ) : error ? null : (
        <p role="status">Loading…</p>
      )}
    </main>
  );
}

const FINISHED = new Set<string>(['succeeded', 'failed', 'cancelled', 'expired']);

interface ImportReport {
  format?: string;
  imported?: string[];
  warnings?: { path: string; message: string }[];
  run?: { duration_ms?: number; assets_evaluated?: number; findings_written?: number } | null;
}

/**
 * "Import advisory": a file sent as it is to the import, then its recompute job's progress, live from job.updated
 * events; at the end the imported advisories' links and the run's numbers, or the job's error.
 */
function ImportAdvisory({ onDone }: { onDone: () => void }) {
  const [job, setJob] = useState<Job>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const watching = !!job && !FINISHED.has(job.state);
  const jobId = job?.id ?? '';
  useJobUpdates(jobId, watching, () => {
    api
      .job(jobId)
      .then((j) => {
        setJob(j);
        if (FINISHED.has(j.state)) onDone();
      })
      .catch((err) => setError(messageOf(err)));
  });

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const file = new FormData(e.currentTarget).get('file');
    setError('');
    setJob(undefined);
    if (!(file instanceof File) || file.size === 0) {
      setError('file: choose an advisory file (JSON, YAML or XML).');
      return;
    }
    const type = advisoryContentType(file.name);
    if (!type) {
      setError(`file: ${file.name} is not a .json, .yaml, .yml or .xml file.`);
      return;
    }
    setBusy(true);
    try {
      const started = await advisoryApi.importAdvisory(await file.text(), type);
      setJob(started);
      if (FINISHED.has(started.state)) onDone();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  const report = job?.state === 'succeeded' ? (job.result as ImportReport | null) : null;
  return (
    <section aria-labelledby="import-heading" className="section import-advisory">
      <h2 id="import-heading">Import advisory</h2>
      <form className="inline-form" onSubmit={submit}>
        <label htmlFor="advisory-file">
          Advisory file (CISA KEV, CVE JSON 5, NVD, CSAF, OSV, CVRF or Bulwark)
        </label>
        <input id="advisory-file" name="file" type="file" accept={ADVISORY_FILE_ACCEPT} required />
        <button type="submit" className="primary" disabled={busy || watching}>
          Import
        </button>
      </form>
      <Message kind="error">{error}</Message>
      {job ? (
        <div className="import-job" aria-live="polite">
          <p>
            Job <Link to={pathOf('jobs', job.id)}>{job.id}</Link>:{' '}
            <span className={`state state-${job.state}`}>{job.state}</span>
          </p>
          <JobProgress job={job} />
          {job.error ? <Message kind="error">The import job failed: {job.error}</Message> : null}
          {report ? (
            <Message kind="ok">
              Imported{' '}
              {(report.imported ?? []).map((id, i) => (
                <span key={id}>
                  {i > 0 ? ', ' : ''}
                  <Link to={pathOf('advisories', id)}>{id}</Link>
                </span>
              ))}
              {report.format ? ` (${report.format})` : ''}.
              {report.run
                ? ` ${report.run.assets_evaluated ?? job.progress.done} assets judged, ${
                    report.run.findings_written ?? 0
                  } findings written in ${report.run.duration_ms ?? 0} ms.`
                : ''}
              {report.warnings?.length ? ` ${report.warnings.length} warning(s).` : ''}
            </Message>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
