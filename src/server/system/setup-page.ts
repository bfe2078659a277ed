/**
 * The first-start page: a form that posts to /api/v1/setup. The token travels in the URL fragment (#token=…),
 * which browsers never send to a server or put in logs or Referer headers.
 */
export const SETUP_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bulwark — first administrator</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1d2430}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}
button{margin-top:1.2rem;padding:.6rem 1.2rem;font:inherit}#msg{margin-top:1rem}</style></head>
<body><h1>Create the first administrator</h1>
<p>Use the setup token the server printed when it first started.</p>
<form id="f">
<label for="token">Setup token</label><input id="token" name="token" required autocomplete="off">
<label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="username">
<label for="name">Name</label><input id="name" name="name" required>
<label for="password">Password (12 characters or more)</label><input id="password" name="password" type="password" minlength="12" required autocomplete="new-password">
<button type="submit">Create administrator</button></form><p id="msg" role="status"></p>
<div id="next" hidden><p>Bulwark has no web console yet. Next:</p><ul>
<li>sign in through the API, <code>POST /api/v1/session</code>, and create an API token for scripts and the <code>bulwark</code> command line (<code>POST /api/v1/tokens</code>);</li>
<li>or try every call in the <a href="/api/docs">interactive API documentation</a> (sign in there, then authorize with the <code>csrf_token</code> the sign-in returns).</li></ul></div>
<script>
const m = /[#&]token=([^&]+)/.exec(location.hash); if (m) document.getElementById('token').value = decodeURIComponent(m[1]);
document.getElementById('f').addEventListener('submit', async (e) => {
  e.preventDefault();
  const data = Object.fromEntries(new FormData(e.target));
  const res = await fetch('/api/v1/setup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(data) });
  const body = await res.json().catch(() => ({}));
  document.getElementById('msg').textContent = res.ok ? 'Administrator ' + body.email + ' created.' : (body.message || 'Setup failed');
  if (res.ok) { history.replaceState(null, '', '/setup'); document.getElementById('f').hidden = true; document.getElementById('next').hidden = false; }
});
</script></body></html>
`;
