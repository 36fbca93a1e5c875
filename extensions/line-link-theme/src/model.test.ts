import { describe, expect, it } from 'vitest';
import { blockURL, model, pixelCookie, safeHref } from './model';

describe('model', () => {
  it('offers the link to a signed-in customer, with QR when asked', () => {
    const m = model(
      { state: 'link', link_url: '/apps/tsunagu/link', incentive: '500円OFF', qr: 'data:image/png;base64,AAAA' },
      { lang: 'ja', showQR: true },
    );
    expect(m).toMatchObject({ heading: 'LINEで受け取る', button: 'LINEで受け取る', href: '/apps/tsunagu/link', qr: 'data:image/png;base64,AAAA' });
    expect(m?.body).toContain('500円OFF');
  });
  it('asks a guest to sign in and points to the order-based link', () => {
    const m = model({ state: 'sign_in', login_url: '/account/login?return_url=%2Fcart' }, { lang: 'en' });
    expect(m).toMatchObject({ button: 'Sign in to link LINE', href: '/account/login?return_url=%2Fcart' });
    expect(m?.note).toContain('order status page');
  });
  it.each([
    ['linked', { state: 'linked' as const }],
    ['none', { state: 'none' as const }],
    ['bad link', { state: 'link' as const, link_url: 'javascript:alert(1)' }],
    ['protocol-relative link', { state: 'link' as const, link_url: '//evil.example/x' }],
  ])('shows nothing when %s', (_n, a) => {
    expect(model(a, {})).toBeNull();
  });
  it('drops a QR that is not a PNG data URL', () => {
    expect(model({ state: 'link', link_url: '/x', qr: 'https://evil/qr' }, { showQR: true })?.qr).toBeUndefined();
  });
  it("uses the merchant's texts", () => {
    expect(model({ state: 'link', link_url: '/x', incentive: 'a coupon' }, { heading: 'Hey', body: 'Take {incentive}', button: 'Go' })).toMatchObject({
      heading: 'Hey',
      body: 'Take a coupon',
      button: 'Go',
    });
  });
});

describe('urls', () => {
  it('blockURL', () => {
    expect(blockURL('/apps/tsunagu/', 'product')).toBe('/apps/tsunagu/block?placement=product&lang=en');
    expect(blockURL('/apps/tsunagu', 'cart', 'ja', true)).toBe('/apps/tsunagu/block?placement=cart&lang=ja&qr=1');
  });
  it('safeHref', () => {
    expect(safeHref('https://a.example/')).toBe('https://a.example/');
    expect(safeHref('http://a.example/')).toBeNull();
    expect(safeHref(undefined)).toBeNull();
  });
});

describe('pixelCookie', () => {
  it('keeps the proof for the pixel, Secure on https', () => {
    expect(pixelCookie({ state: 'linked', pixel_token: '7001.1790000000.abc_-9' }, true)).toBe(
      '_tsunagu_px=7001.1790000000.abc_-9; Path=/; Max-Age=2592000; SameSite=Lax; Secure',
    );
  });
  it.each([
    ['guest', { state: 'sign_in' as const }],
    ['not a token', { state: 'link' as const, pixel_token: 'x; Domain=evil.com' }],
  ])('%s: no cookie', (_, a) => {
    expect(pixelCookie(a, true)).toBeNull();
  });
});
