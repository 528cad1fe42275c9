// The code and language in the page's address: `#lang=<id>&code=<base64url
// of the UTF-8 code>`, so a link reopens the same program. The fragment
// never reaches the server.

function toBase64Url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text) {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** `href` with the state in its fragment. */
export function shareUrl(href, { language, code }) {
  const url = new URL(href);
  url.hash = new URLSearchParams({ lang: language, code: toBase64Url(code) }).toString();
  return url.toString();
}

/** The `{language, code}` of a shared link, or null. */
export function readShared(href) {
  const params = new URLSearchParams(new URL(href).hash.slice(1));
  const language = params.get('lang');
  const code = params.get('code');
  if (!language || code === null) return null;
  try {
    return { language, code: fromBase64Url(code) };
  } catch {
    return null;
  }
}
