/** A console URL that names no page. */
import { Link } from '../router';
import { PageHeading } from '../ui';

export function NotFoundPage() {
  return (
    <main id="main">
      <PageHeading title="Not found">Page not found</PageHeading>
      <p>
        The console has no page at this address. <Link to="/">Go to the overview</Link>.
      </p>
    </main>
  );
}
