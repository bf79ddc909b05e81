#!/bin/sh
# make demo: run imapd on a throw-away setup under ./demo/ -- a
# self-signed certificate, a userdb with the user "demo", a Maildir with
# sample mail -- in the foreground on 127.0.0.1:1143 (STARTTLS) and
# 127.0.0.1:1993 (TLS).  Works as root and as an ordinary user.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
demo=$top/demo
IMAPD=$top/imapd/imapd
USERDB=$top/tools/imapd-userdb
PORT=${DEMO_PORT:-1143}
TLSPORT=${DEMO_TLS_PORT:-1993}

mkdir -p "$demo"
chmod 755 "$demo"

# the certificate
if [ ! -s "$demo/cert.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 365 -subj /CN=localhost \
	    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	    -keyout "$demo/key.pem" -out "$demo/cert.pem" 2>/dev/null
	chmod 600 "$demo/key.pem"
fi

# who the demo user is: this user, or "nobody" when run as root
if [ "$(id -u)" -eq 0 ]; then
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	login_user=nobody
	home=$demo/home
	mkdir -p "$home"
	# nobody must be able to walk to its home; a checkout under /root is
	# not walkable, so fall back to a place that is
	if ! setpriv --reuid="$uid" --regid="$gid" --clear-groups \
	    test -x "$demo" 2>/dev/null; then
		home=/var/tmp/imapd-demo-home
		mkdir -p "$home"
	fi
else
	uid=$(id -u)
	gid=$(id -g)
	login_user=$(id -un)
	home=$demo/home
	mkdir -p "$home"
fi

# a password, new each time the demo starts
password=$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')
hash=$(printf '%s\n' "$password" | "$USERDB" -p -m sha512)
printf 'demo:%s:%s:%s:%s\n' "$hash" "$uid" "$gid" "$home" > "$demo/userdb"
chmod 600 "$demo/userdb"
"$USERDB" -o "$demo/userdb.cdb" "$demo/userdb" >/dev/null

# sample mail, once
md=$home/Maildir
if [ ! -d "$md/cur" ]; then
	sh "$top/tools/demo-mail.sh" "$md"
fi
if [ "$(id -u)" -eq 0 ]; then
	chown -R "$uid:$gid" "$home"
fi

mkdir -p "$demo/empty"
cat > "$demo/imapd.conf" <<CONF
# written by make demo
listen_imap   = 127.0.0.1:$PORT
listen_imaps  = 127.0.0.1:$TLSPORT
tls_cert      = $demo/cert.pem
tls_key       = $demo/key.pem
auth          = userdb
userdb        = $demo/userdb.cdb
login_user    = $login_user
login_chroot  = $demo/empty
prefork       = 2
max_sessions  = 50
auth_fail_delay = 500ms
first_valid_uid = 1
CONF

"$IMAPD" -t -c "$demo/imapd.conf" >/dev/null

cat <<INFO

imapd demo -- connection settings (for Thunderbird, mutt, or any client)

  Server:     127.0.0.1 (or localhost)
  Port:       $TLSPORT with SSL/TLS    or    $PORT with STARTTLS
  User name:  demo
  Password:   $password
  Auth:       normal password
  Mail:       $md

  The certificate is self-signed ($demo/cert.pem): accept the exception
  when the client asks.  Quick check from a shell:
    openssl s_client -quiet -connect 127.0.0.1:$TLSPORT
    a LOGIN demo $password
  mutt:  mutt -f imaps://demo@127.0.0.1:$TLSPORT/INBOX

Running imapd in the foreground; Ctrl-C stops it.

INFO
exec "$IMAPD" -f -c "$demo/imapd.conf"
