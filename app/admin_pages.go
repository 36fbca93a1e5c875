package app

import "github.com/labstack/echo/v4"

func (a *App) adminPages(e *echo.Echo) {}
