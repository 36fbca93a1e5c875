import { register } from '@shopify/web-pixels-extension';
import { Batcher, Consent, IngestBatch, SUBSCRIBED, allowed, numericID, toIngest } from './events';

register(({ analytics, browser, init, settings, customerPrivacy }) => {
  const endpoint = typeof settings.endpoint === 'string' ? settings.endpoint : '';
  if (!endpoint.startsWith('https://')) {
    return;
  }
  let consent: Consent = {
    analytics: init.customerPrivacy.analyticsProcessingAllowed,
    marketing: init.customerPrivacy.marketingAllowed,
  };
  customerPrivacy.subscribe('visitorConsentCollected', (e) => {
    consent = { analytics: e.customerPrivacy.analyticsProcessingAllowed, marketing: e.customerPrivacy.marketingAllowed };
  });
  let clientID = '';
  // The theme script keeps the app's proof of the signed-in customer here
  // (extensions/line-link-theme); without it the app ignores customer_id.
  let customerToken: string | undefined;
  const readToken = () =>
    browser.cookie
      .get('_tsunagu_px')
      .then((v) => {
        customerToken = v || undefined;
      })
      .catch(() => {});
  void readToken();
  const batcher = new Batcher(
    (events) => {
      if (!allowed(consent) || clientID === '') {
        return;
      }
      const body: IngestBatch = {
        shop: init.data.shop.myshopifyDomain,
        key: String(settings.key ?? ''),
        client_id: clientID,
        customer_id: numericID(init.data.customer?.id),
        customer_token: customerToken,
        consent,
        events,
      };
      // text/plain keeps it a simple CORS request (no preflight).
      fetch(endpoint, { method: 'POST', body: JSON.stringify(body), keepalive: true, headers: { 'Content-Type': 'text/plain' } }).catch(
        () => browser.sendBeacon(endpoint, JSON.stringify(body)),
      );
    },
    (fn, ms) => setTimeout(fn, ms),
    (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
  );
  for (const name of SUBSCRIBED) {
    analytics.subscribe(name, (event: any) => {
      clientID = event.clientId ?? clientID;
      void readToken();
      const ev = toIngest(event);
      if (ev && allowed(consent)) {
        batcher.add(ev);
      }
    });
  }
});
