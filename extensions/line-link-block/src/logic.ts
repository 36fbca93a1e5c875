// Pure logic of the LINE link block, shared by both targets and unit-tested
// without Shopify's runtime.

/** What the app answers on GET /ext/link-block. */
export interface LinkBlockResponse {
  /** link: show the call to action; linked: show nothing; pending: the
   * order has not reached the app yet, ask again shortly; none: nothing to
   * offer (no customer on the order, LINE not connected). */
  state: 'link' | 'linked' | 'pending' | 'none';
  url?: string;
  incentive?: string;
}

/** The merchant's texts from the checkout/accounts editor. */
export interface BlockSettings {
  heading?: unknown;
  body?: unknown;
  button_label?: unknown;
  show_qr?: unknown;
}

export interface BlockView {
  heading: string;
  body: string;
  buttonLabel: string;
  url: string;
  showQR: boolean;
}

const texts = {
  ja: {
    heading: 'LINEで受け取る',
    body: 'LINEと連携すると、発送のお知らせやクーポンがLINEに届きます。{incentive}',
    button: 'LINEで受け取る',
  },
  en: {
    heading: 'Get order updates on LINE',
    body: 'Link LINE to get shipping updates and coupons on LINE. {incentive}',
    button: 'Get updates on LINE',
  },
} as const;

/** lang picks Japanese for "ja…" and English for everything else. */
export function lang(isoCode: string | undefined): 'ja' | 'en' {
  return (isoCode ?? '').toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

function text(v: unknown, max: number): string {
  return typeof v === 'string' ? v.trim().slice(0, max) : '';
}

/** view decides what the block shows: null means render nothing. */
export function view(res: LinkBlockResponse | null, settings: BlockSettings, isoCode?: string): BlockView | null {
  if (!res || res.state !== 'link' || !res.url || !isSafeLink(res.url)) {
    return null;
  }
  const t = texts[lang(isoCode)];
  const incentive = text(res.incentive, 200);
  const body = (text(settings.body, 500) || t.body).replace('{incentive}', incentive).trim();
  return {
    heading: text(settings.heading, 80) || t.heading,
    body,
    buttonLabel: text(settings.button_label, 40) || t.button,
    url: res.url,
    showQR: settings.show_qr !== false,
  };
}

/** Only https links (http on localhost for development) leave the block. */
export function isSafeLink(u: string): boolean {
  try {
    const p = new URL(u);
    return p.protocol === 'https:' || (p.protocol === 'http:' && (p.hostname === 'localhost' || p.hostname === '127.0.0.1'));
  } catch {
    return false;
  }
}

/** blockRequestURL is the app endpoint the block asks. */
export function blockRequestURL(
  appURL: string,
  target: 'thank_you' | 'order_status',
  orderID: string,
  checkoutToken?: string,
  isoCode?: string,
): string {
  const q = new URLSearchParams({ target, order_id: orderID, lang: lang(isoCode) });
  if (checkoutToken) {
    q.set('checkout_token', checkoutToken);
  }
  return appURL.replace(/\/+$/, '') + '/ext/link-block?' + q.toString();
}

export type Fetcher = (url: string, init: { headers: Record<string, string> }) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

/** fetchBlock asks the app, waiting and retrying while the order is still
 * on its way (the orders/create webhook may land after the Thank-you page). */
export async function fetchBlock(
  fetcher: Fetcher,
  url: string,
  token: () => Promise<string>,
  sleep: (ms: number) => Promise<void>,
  attempts = 4,
): Promise<LinkBlockResponse | null> {
  for (let i = 0; i < attempts; i++) {
    if (i > 0) {
      await sleep(1500 * 2 ** (i - 1));
    }
    let res;
    try {
      res = await fetcher(url, { headers: { Authorization: 'Bearer ' + (await token()), Accept: 'application/json' } });
    } catch {
      continue;
    }
    if (!res.ok) {
      if (res.status >= 500 || res.status === 429) {
        continue;
      }
      return null;
    }
    const body = (await res.json()) as LinkBlockResponse;
    if (body?.state !== 'pending') {
      return body;
    }
  }
  return null;
}
