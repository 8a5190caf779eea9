package asm

//go:generate go run ./internal/sitegen
