// What the LINE block shows, decided from the app's answer (GET
// <proxy>/block) and the merchant's texts. Pure, so it is unit-tested.

export interface ProxyAnswer {
  /** link: the signed-in customer can link; sign_in: a guest;
   * linked / none: show nothing. */
  state: 'link' | 'sign_in' | 'linked' | 'none';
  link_url?: string;
  login_url?: string;
  incentive?: string;
  qr?: string;
  /** proof of the signed-in customer for the web pixel (see pixelCookie) */
  pixel_token?: string;
}

/** PIXEL_COOKIE is read back by the web pixel (extensions/web-pixel). */
export const PIXEL_COOKIE = '_tsunagu_px';

/** pixelCookie is the first-party cookie that hands the app's customer
 * proof to the web pixel, or null when the answer carries none (a guest)
 * or something that is not a token. */
export function pixelCookie(a: ProxyAnswer | null, https: boolean): string | null {
  const t = a?.pixel_token;
  if (!t || t.length > 200 || !/^[0-9]+\.[0-9]+\.[A-Za-z0-9_-]+$/.test(t)) return null;
  return `${PIXEL_COOKIE}=${t}; Path=/; Max-Age=${30 * 24 * 3600}; SameSite=Lax${https ? '; Secure' : ''}`;
}

export interface BlockOptions {
  heading?: string;
  body?: string;
  button?: string;
  showQR?: boolean;
  lang?: string;
}

export interface BlockModel {
  heading: string;
  body: string;
  button: string;
  href: string;
  note?: string;
  qr?: string;
}

const texts = {
  ja: {
    heading: 'LINEで受け取る',
    body: 'LINEと連携すると、発送のお知らせやクーポンがLINEに届きます。{incentive}',
    link: 'LINEで受け取る',
    signIn: 'ログインしてLINEと連携',
    guest: 'ゲストでご購入の方は、注文確認メールまたは注文状況ページのLINEボタンから連携できます。',
  },
  en: {
    heading: 'Get order updates on LINE',
    body: 'Link LINE to get shipping updates and coupons on LINE. {incentive}',
    link: 'Get updates on LINE',
    signIn: 'Sign in to link LINE',
    guest: 'Bought as a guest? Use the LINE button on your order status page or in your order confirmation email.',
  },
};

/** sameSiteOrHttps lets through paths on the storefront and https links. */
export function safeHref(u: string | undefined): string | null {
  if (!u) return null;
  if (u.startsWith('/') && !u.startsWith('//')) return u;
  try {
    return new URL(u).protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

export function model(a: ProxyAnswer | null, o: BlockOptions): BlockModel | null {
  if (!a) return null;
  const t = (o.lang ?? '').toLowerCase().startsWith('ja') ? texts.ja : texts.en;
  const heading = (o.heading ?? '').trim().slice(0, 80) || t.heading;
  const body = ((o.body ?? '').trim().slice(0, 500) || t.body).replace('{incentive}', (a.incentive ?? '').slice(0, 200)).trim();
  if (a.state === 'link') {
    const href = safeHref(a.link_url);
    if (!href) return null;
    const qr = o.showQR && a.qr && a.qr.startsWith('data:image/png;base64,') ? a.qr : undefined;
    return { heading, body, button: (o.button ?? '').trim().slice(0, 40) || t.link, href, qr };
  }
  if (a.state === 'sign_in') {
    const href = safeHref(a.login_url);
    if (!href) return null;
    return { heading, body, button: t.signIn, href, note: t.guest };
  }
  return null;
}

/** blockURL is the app proxy request for this placement. */
export function blockURL(proxy: string, placement: string, lang?: string, qr?: boolean): string {
  const q = new URLSearchParams({ placement: placement.slice(0, 40), lang: (lang ?? '').toLowerCase().startsWith('ja') ? 'ja' : 'en' });
  if (qr) q.set('qr', '1');
  return proxy.replace(/\/+$/, '') + '/block?' + q.toString();
}
