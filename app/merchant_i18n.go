package app

import "strings"

// merchantText is the wording of the segment, campaign and automation
// pages (Japanese first, English second); tr falls back to it.
var merchantText = map[string][2]string{
	"nav.automations": {"自動配信", "Automations"},

	"segb.title":          {"セグメント", "Segments"},
	"segb.saved":          {"保存済みセグメント", "Saved segments"},
	"segb.none":           {"まだ保存したセグメントはありません。右で条件を組み立てて保存してください。", "No saved segments yet. Build one on the right and save it."},
	"segb.new":            {"新しいセグメント", "New segment"},
	"segb.from_builtin":   {"テンプレートから始める", "Start from a template"},
	"segb.name":           {"セグメント名", "Segment name"},
	"segb.name_ph":        {"例：リピーター（3回以上購入）", "e.g. Repeat buyers (3+ orders)"},
	"segb.top_all":        {"次のすべてのグループに当てはまる", "Match all of the groups"},
	"segb.top_any":        {"次のいずれかのグループに当てはまる", "Match any of the groups"},
	"segb.group_all":      {"すべての条件（AND）", "All conditions (AND)"},
	"segb.group_any":      {"いずれかの条件（OR）", "Any condition (OR)"},
	"segb.group":          {"グループ", "Group"},
	"segb.add_cond":       {"＋ 条件を追加", "+ Add condition"},
	"segb.add_group":      {"＋ グループを追加", "+ Add group"},
	"segb.remove":         {"削除", "Remove"},
	"segb.remove_group":   {"グループを削除", "Remove group"},
	"segb.empty_group":    {"条件がありません。「条件を追加」で項目を選んでください。", "No conditions. Use “Add condition” to pick a field."},
	"segb.everyone":       {"条件なし：すべてのお客様が対象です。", "No conditions: every customer matches."},
	"segb.count":          {"対象人数", "Matching customers"},
	"segb.count_n":        {"%d 人", "%d customers"},
	"segb.counting":       {"計算中…", "Counting…"},
	"segb.funnel":         {"届く人数（今送った場合）", "Who a message sent now reaches"},
	"segb.sample":         {"該当するお客様の例", "Sample of matching customers"},
	"segb.sample_none":    {"該当するお客様はいません。条件をゆるめてみてください。", "No customer matches. Try loosening a condition."},
	"segb.save":           {"保存", "Save"},
	"segb.save_new":       {"新規保存", "Save as new"},
	"segb.duplicate":      {"複製", "Duplicate"},
	"segb.delete":         {"削除", "Delete"},
	"segb.confirm_delete": {"このセグメントを削除しますか？キャンペーンやリッチメニューでの利用は解除されます。", "Delete this segment? Campaigns and rich menus stop using it."},
	"segb.copy_of":        {"%s のコピー", "Copy of %s"},
	"segb.saved_ok":       {"保存しました", "Saved"},
	"segb.deleted":        {"削除しました", "Deleted"},
	"segb.json":           {"JSON で編集（上級者向け）", "Edit as JSON (advanced)"},
	"segb.json_apply":     {"JSON を反映", "Apply JSON"},
	"segb.json_only":      {"このセグメントは入れ子が深いため JSON でのみ編集できます。", "This segment is nested too deeply for the builder; edit it as JSON."},
	"segb.need_value":     {"値を入力してください", "Enter a value"},
	"segb.need_name":      {"名前を入力してください", "Enter a name"},
	"segb.need_product":   {"商品を1つ以上選んでください", "Pick at least one product"},
	"segb.search_product": {"商品名で検索", "Search products by name"},
	"segb.no_products":    {"該当する商品がありません（注文のある商品のみ表示）", "No matching products (only products that were ordered appear)"},
	"segb.within":         {"過去", "in the last"},
	"segb.within_any":     {"（空欄＝全期間）", "(empty = ever)"},
	"segb.yes":            {"はい", "Yes"},
	"segb.no":             {"いいえ", "No"},
	"segb.current_month":  {"今月", "This month"},
	"segb.any_click":      {"どのメッセージでも", "Any message"},
	"segb.use":            {"このセグメントでキャンペーンを作る", "Create a campaign for this segment"},
	"segb.quiet_now":      {"現在は配信停止時間帯です。%s 以降に届きます（取りこぼしはありません）。", "It is quiet hours now; messages go out from %s (nothing is dropped)."},
	"segb.cap":            {"1日の上限 %d 通", "daily cap %d"},

	"unit.times":  {"回", "times"},
	"unit.days":   {"日", "days"},
	"unit.months": {"月", "month"},

	"field.orders_count":           {"購入回数", "Number of orders"},
	"field.total_spent":            {"累計購入金額", "Total spent"},
	"field.aov":                    {"平均注文金額", "Average order value"},
	"field.days_since_last_order":  {"最終購入からの日数", "Days since last order"},
	"field.days_since_first_order": {"初回購入からの日数", "Days since first order"},
	"field.last_order_date":        {"最終購入日", "Last order date"},
	"field.first_order_date":       {"初回購入日", "First order date"},
	"field.product_id":             {"購入した商品", "Product bought"},
	"field.product_title":          {"購入した商品名", "Product name bought"},
	"field.vendor":                 {"購入したブランド（ベンダー）", "Vendor bought"},
	"field.coupon_used":            {"クーポンを使った", "Used a coupon"},
	"field.coupon_unused":          {"未使用の有効なクーポンがある", "Has an unused valid coupon"},
	"field.tag":                    {"顧客タグ", "Customer tag"},
	"field.region":                 {"都道府県", "Prefecture / region"},
	"field.country":                {"国（コード）", "Country (code)"},
	"field.birthday_month":         {"誕生月", "Birthday month"},
	"field.days_since_signup":      {"会員登録からの日数", "Days since sign-up"},
	"field.accepts_marketing":      {"メール配信に同意", "Accepts email marketing"},
	"field.linked":                 {"LINE 連携済み", "Linked to LINE"},
	"field.friend":                 {"LINE 友だち（ブロックなし）", "LINE friend (not blocked)"},
	"field.blocked":                {"LINE をブロック中", "Blocked on LINE"},
	"field.received":               {"受け取ったメッセージ", "Messages received"},
	"field.clicked":                {"メッセージ内のリンクをクリック", "Clicked a link in a message"},

	"op.>=":           {"以上", "at least"},
	"op.<=":           {"以下", "at most"},
	"op.=":            {"等しい", "is"},
	"op.!=":           {"等しくない", "is not"},
	"op.>":            {"より大きい", "more than"},
	"op.<":            {"より小さい", "less than"},
	"op.in":           {"いずれかを購入", "bought any of"},
	"op.not_in":       {"どれも購入していない", "bought none of"},
	"op.contains":     {"を含む", "contains"},
	"op.not_contains": {"を含まない", "does not contain"},
	"opd.<":           {"より前", "before"},
	"opd.<=":          {"以前", "on or before"},
	"opd.=":           {"当日", "on"},
	"opd.>=":          {"以降", "on or after"},
	"opd.>":           {"より後", "after"},

	"funnel.in_segment":          {"セグメントに該当", "In the segment"},
	"funnel.linked":              {"LINE 連携済み", "Linked to LINE"},
	"funnel.friend":              {"公式アカウントの友だち", "Friend of the account"},
	"funnel.not_blocked":         {"ブロックしていない", "Not blocked"},
	"funnel.under_cap":           {"今日の上限に達していない", "Under today's cap"},
	"funnel.outside_quiet_hours": {"配信停止時間帯の外", "Outside quiet hours"},
	"funnel.lost":                {"−%d 人", "−%d"},

	"cmp.new":            {"新しいキャンペーン", "New campaign"},
	"cst.draft":          {"下書き", "Draft"},
	"cst.scheduled":      {"予約済み", "Scheduled"},
	"cst.sending":        {"送信中", "Sending"},
	"cst.waiting_winner": {"A/B 結果待ち", "Waiting for the A/B winner"},
	"cst.done":           {"完了", "Done"},
	"cst.cancelled":      {"中止", "Cancelled"},
}

// bundle picks the strings with the given key prefixes in lang, for a
// page's script.
func bundle(lang string, prefixes ...string) map[string]string {
	out := map[string]string{}
	for _, m := range []map[string][2]string{uiText, merchantText} {
		for k := range m {
			for _, p := range prefixes {
				if strings.HasPrefix(k, p) {
					out[k] = tr(lang, k)
				}
			}
		}
	}
	return out
}
