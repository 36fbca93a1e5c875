import '@shopify/ui-extensions/preact';
import { render } from 'preact';
import { LinkBlock } from './Block';

// purchase.thank-you.block.render: the order id and checkout token prove to
// the app which order (and so which customer) this buyer just placed.
export default async () => {
  render(
    <LinkBlock
      api={{
        target: 'thank_you',
        orderID: () => shopify.orderConfirmation.value?.order.id,
        checkoutToken: () => shopify.checkoutToken.value,
        token: () => shopify.sessionToken.get(),
        settings: () => shopify.settings.value,
        language: () => shopify.localization.language.value?.isoCode,
      }}
    />,
    document.body,
  );
};
