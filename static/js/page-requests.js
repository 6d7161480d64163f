// The pages' own requests to Sandpit: the session cookie and Django's CSRF token from
// its cookie, never an API key.

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

const UNREACHABLE = 'Sandpit could not be reached. Check your connection and try again.';

// {ok, status, body}; a request that never reached Sandpit is status 0 with an error
// body of the API's one shape, so that callers show every failure the same way.
export async function sendJson(url, { method = 'POST', body, keepalive = false } = {}) {
  const headers = { Accept: 'application/json', 'X-CSRFToken': csrfToken() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(url, {
      method, headers, keepalive, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, body: { error: { message: UNREACHABLE } } };
  }
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, body: answer };
}

export function errorMessage(answer, fallback) {
  return answer.body?.error?.message || `${fallback} (${answer.status}).`;
}
