import { BlockModel, ProxyAnswer, blockURL, model, pixelCookie } from './model';

// Fills every [data-tsunagu-line] element on the page.
function draw(el: HTMLElement, m: BlockModel): void {
  const doc = el.ownerDocument;
  const add = (tag: string, cls: string, text?: string): HTMLElement => {
    const n = doc.createElement(tag);
    n.className = cls;
    if (text !== undefined) n.textContent = text;
    el.appendChild(n);
    return n;
  };
  el.textContent = '';
  add('p', 'tsunagu-line__heading', m.heading);
  add('p', 'tsunagu-line__body', m.body);
  const a = add('a', 'tsunagu-line__button', m.button) as HTMLAnchorElement;
  a.href = m.href;
  if (m.note) add('p', 'tsunagu-line__note', m.note);
  if (m.qr) {
    const img = add('img', 'tsunagu-line__qr') as HTMLImageElement;
    img.src = m.qr;
    img.alt = 'QR';
  }
  if (el.dataset.dismissible === 'true') {
    const close = add('button', 'tsunagu-line__close', '×');
    close.setAttribute('aria-label', 'close');
    close.addEventListener('click', () => {
      el.hidden = true;
      try {
        sessionStorage.setItem('tsunagu-line-closed', '1');
      } catch {
        // storage may be blocked; closing still works for this page
      }
    });
  }
  el.hidden = false;
}

async function fill(el: HTMLElement): Promise<void> {
  if (el.dataset.tsunaguDone) return;
  el.dataset.tsunaguDone = '1';
  if (el.dataset.dismissible === 'true') {
    try {
      if (sessionStorage.getItem('tsunagu-line-closed')) return;
    } catch {
      // ignore
    }
  }
  let answer: ProxyAnswer | null = null;
  const lang = el.dataset.lang || document.documentElement.lang;
  const showQR = el.dataset.showQr === 'true';
  try {
    const res = await fetch(blockURL(el.dataset.proxy || '/apps/tsunagu', el.dataset.placement || '', lang, showQR), {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (res.ok) answer = (await res.json()) as ProxyAnswer;
  } catch {
    return;
  }
  const cookie = pixelCookie(answer, location.protocol === 'https:');
  if (cookie) document.cookie = cookie;
  // What the app answered, for the theme editor's inspector and for tests.
  el.dataset.tsunaguState = answer?.state ?? 'error';
  const m = model(answer, {
    heading: el.dataset.heading,
    body: el.dataset.body,
    button: el.dataset.button,
    showQR,
    lang,
  });
  if (m) draw(el, m);
}

function start(): void {
  document.querySelectorAll<HTMLElement>('[data-tsunagu-line]').forEach((el) => void fill(el));
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start);
} else {
  start();
}
// The theme editor re-renders sections in place.
document.addEventListener('shopify:section:load', start);
