package app

import (
	"context"
	"errors"

	"github.com/tsunagu/tsunagu/app/secretbox"
	"github.com/tsunagu/tsunagu/app/store"
)

// sealedProblem opens each sealed value and returns secretbox.ErrWrongKey
// (after logging which shop and field, never the value) for the first one
// the configured key cannot decrypt.
func (a *App) sealedProblem(ctx context.Context, vals []store.SealedValue) error {
	for _, v := range vals {
		if _, err := a.Box.Open(v.Value); errors.Is(err, secretbox.ErrWrongKey) {
			a.logWrongKey(ctx, v.ShopID, v.Field)
			return err
		}
	}
	return nil
}

// logWrongKey says in the log that a stored credential does not decrypt.
func (a *App) logWrongKey(ctx context.Context, shopID int64, field string) {
	a.Log.ErrorContext(ctx, "the secret key cannot decrypt stored credentials", "shop_id", shopID, "field", field,
		"alert", "secret_key_mismatch",
		"hint", "TSUNAGU_SECRET_KEY is not the key these were saved with: restore that key, or enter the credentials again")
}

// CheckSecretKey opens a sample of the stored credentials (at start-up) and
// logs an error for each shop whose credentials the configured key cannot
// decrypt. It answers how many shops are affected.
func (a *App) CheckSecretKey(ctx context.Context) (int, error) {
	vals, err := a.DB.SealedSample(ctx, 50)
	if err != nil {
		return 0, err
	}
	bad := map[int64]bool{}
	for _, v := range vals {
		if bad[v.ShopID] {
			continue
		}
		if a.sealedProblem(ctx, []store.SealedValue{v}) != nil {
			bad[v.ShopID] = true
		}
	}
	return len(bad), nil
}
