import { describe, expect, it } from 'vitest';
import { blockRequestURL, fetchBlock, isSafeLink, lang, view } from './logic';

describe('view', () => {
  const link = { state: 'link' as const, url: 'https://app.example/link/start?t=abc', incentive: '10% OFF' };
  it.each([
    ['linked customer shows nothing', { state: 'linked' as const }, {}, 'ja', null],
    ['pending shows nothing', { state: 'pending' as const }, {}, 'ja', null],
    ['no answer shows nothing', null, {}, 'en', null],
    ['javascript: URL is refused', { state: 'link' as const, url: 'javascript:alert(1)' }, {}, 'en', null],
  ])('%s', (_name, res, settings, iso, want) => {
    expect(view(res, settings, iso)).toBe(want);
  });
  it('uses Japanese defaults with the incentive', () => {
    const v = view(link, {}, 'ja');
    expect(v?.heading).toBe('LINEで受け取る');
    expect(v?.body).toContain('10% OFF');
    expect(v?.url).toBe(link.url);
    expect(v?.showQR).toBe(true);
  });
  it('uses English for other languages', () => {
    expect(view(link, {}, 'fr')?.heading).toBe('Get order updates on LINE');
  });
  it("takes the merchant's texts, bounded", () => {
    const v = view(link, { heading: ' Hi ', body: 'Get {incentive} now', button_label: 'x'.repeat(100), show_qr: false }, 'en');
    expect(v?.heading).toBe('Hi');
    expect(v?.body).toBe('Get 10% OFF now');
    expect(v?.buttonLabel).toHaveLength(40);
    expect(v?.showQR).toBe(false);
  });
});

describe('lang and links', () => {
  it('detects Japanese', () => {
    expect(lang('ja-JP')).toBe('ja');
    expect(lang(undefined)).toBe('en');
  });
  it('allows https and local http only', () => {
    expect(isSafeLink('https://x.example/')).toBe(true);
    expect(isSafeLink('http://localhost:8080/')).toBe(true);
    expect(isSafeLink('http://evil.example/')).toBe(false);
    expect(isSafeLink('not a url')).toBe(false);
  });
  it('builds the request URL', () => {
    const u = new URL(blockRequestURL('https://app.example/', 'thank_you', 'gid://shopify/Order/1', 'tok', 'ja-JP'));
    expect(u.searchParams.get('lang')).toBe('ja');
    expect(u.pathname).toBe('/ext/link-block');
    expect(u.searchParams.get('order_id')).toBe('gid://shopify/Order/1');
    expect(u.searchParams.get('checkout_token')).toBe('tok');
  });
});

describe('fetchBlock', () => {
  const ok = (body: unknown) => ({ ok: true, status: 200, json: async () => body });
  it('retries while the order is pending, with the bearer token', async () => {
    const answers = [ok({ state: 'pending' }), { ok: false, status: 503, json: async () => ({}) }, ok({ state: 'link', url: 'https://a/' })];
    const seen: string[] = [];
    const slept: number[] = [];
    const res = await fetchBlock(
      async (_u, init) => {
        seen.push(init.headers.Authorization);
        return answers.shift()!;
      },
      'https://app/ext',
      async () => 'tok',
      async (ms) => {
        slept.push(ms);
      },
    );
    expect(res).toEqual({ state: 'link', url: 'https://a/' });
    expect(seen).toEqual(['Bearer tok', 'Bearer tok', 'Bearer tok']);
    expect(slept).toEqual([1500, 3000]);
  });
  it('gives up on 401 at once', async () => {
    let calls = 0;
    const res = await fetchBlock(
      async () => {
        calls++;
        return { ok: false, status: 401, json: async () => ({}) };
      },
      'u',
      async () => 't',
      async () => {},
    );
    expect(res).toBeNull();
    expect(calls).toBe(1);
  });
  it('stops after the last attempt', async () => {
    let calls = 0;
    const res = await fetchBlock(
      async () => {
        calls++;
        return ok({ state: 'pending' });
      },
      'u',
      async () => 't',
      async () => {},
      3,
    );
    expect(res).toBeNull();
    expect(calls).toBe(3);
  });
});
