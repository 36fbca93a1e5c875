package door

// CheckShopDecoded is CheckShop without its shortcut.
var CheckShopDecoded = checkShopDecoded
