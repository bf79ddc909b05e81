/*
 * password: the password a tool logs in with, never from its command
 * line (where ps(1) and shell histories show it): from the environment
 * variable IMAP_PASSWORD when that is set, else typed on the terminal
 * with echo off.
 */
#ifndef CLIENT_PASSWORD_H
#define CLIENT_PASSWORD_H

#include <stddef.h>

#define PASSWORD_ENV	"IMAP_PASSWORD"

/*
 * Put the password in pw (size bytes, NUL-terminated).  The variable's
 * value is wiped from the environment once copied.  0, or -1 with a
 * sentence in *why_r: no terminal to ask on, an empty or too long
 * password, or a read error.  The caller wipes pw after use.
 */
int	password_get(const char *prompt, char *pw, size_t size,
	    const char **why_r);

#endif
