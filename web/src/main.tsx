import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, getToken, setToken, setUnauthorizedHandler } from './api';
import { closeStream, useStreamState } from './stream';
import { match, navigate, usePath } from './router';
import { Link } from './components/ui';
import { ProductsPage } from './pages/Products';
import { ProductPage } from './pages/Product';
import { DevicePage } from './pages/Device';
import { OverviewPage } from './pages/Overview';
import { RulesPage } from './pages/Rules';
import { AlarmsPage } from './pages/Alarms';
import './style.css';

function Login(props: { onSignedIn: () => void }) {
  const [token, setTokenText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('GET', '/products?limit=1', undefined, token.trim());
      setToken(token.trim());
      props.onSignedIn();
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      setError(status === 401 ? 'Unknown, revoked or expired token.' : String((err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="login">
      <form onSubmit={submit} class="card">
        <h1>IoT console</h1>
        <p class="muted">Sign in with an API token (the bootstrap admin token is printed by deploy/local/run.sh).</p>
        <label>
          Token
          <input type="password" name="token" autoComplete="off" value={token} onInput={(e) => setTokenText((e.target as HTMLInputElement).value)} autoFocus required />
        </label>
        {error && (
          <div class="error" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        <button type="submit" class="primary" disabled={busy || !token.trim()}>
          Sign in
        </button>
      </form>
    </div>
  );
}

function StreamIndicator() {
  const state = useStreamState();
  const label = { idle: 'idle', connecting: 'connecting…', live: 'live', down: 'reconnecting…', unavailable: 'stream unavailable' }[state];
  return (
    <span class={`stream st-${state}`} data-testid="stream-state" title="Live updates (WebSocket /api/v1/stream)">
      ● {label}
    </span>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(!!getToken());
  const path = usePath();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setToken(null);
      closeStream();
      setSignedIn(false);
    });
  }, []);
  if (!signedIn) return <Login onSignedIn={() => setSignedIn(true)} />;
  const signOut = () => {
    setToken(null);
    closeStream();
    setSignedIn(false);
    navigate('/', true);
  };
  let page;
  let m: Record<string, string> | null;
  if ((m = match('/products/:pk/devices/:dn', path))) page = <DevicePage pk={m.pk} dn={m.dn} />;
  else if ((m = match('/products/:pk/:tab', path))) page = <ProductPage pk={m.pk} tab={m.tab} />;
  else if ((m = match('/products/:pk', path))) page = <ProductPage pk={m.pk} tab="model" />;
  else if (path === '/overview') page = <OverviewPage />;
  else if (path === '/rules') page = <RulesPage />;
  else if (path === '/alarms') page = <AlarmsPage />;
  else if (path === '/' || path === '/products') page = <ProductsPage />;
  else
    page = (
      <section data-testid="not-found">
        <h2>Page not found</h2>
        <p class="muted">
          Nothing lives at <code>{path}</code>. <Link href="/products">Back to the products</Link>.
        </p>
      </section>
    );
  return (
    <div class="shell">
      <header>
        <Link href="/products" class="brand">
          IoT console
        </Link>
        <nav>
          <Link href="/products">Products</Link> <Link href="/overview" testid="nav-overview">Overview</Link> <Link href="/alarms" testid="nav-alarms">Alarms</Link> <Link href="/rules" testid="nav-rules">Rules</Link>
        </nav>
        <span class="spacer" />
        <StreamIndicator />
        <button class="link" onClick={signOut} data-testid="sign-out">
          Sign out
        </button>
      </header>
      <main>{page}</main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
