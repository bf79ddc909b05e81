#!/bin/sh
# Write a small Maildir of sample mail for make demo: a few messages in
# new/ and cur/, one with an attachment, one with an encoded subject.
set -eu
md=$1
umask 077
mkdir -p "$md/cur" "$md/new" "$md/tmp"
host=demo.invalid
n=0
msg() {	# msg DIR FLAGS FILE-CONTENT
	n=$((n + 1))
	name="$(date +%s).M${n}P$$.$host"
	if [ "$1" = cur ]; then
		name="$name:2,$2"
	fi
	cat > "$md/tmp/$name"
	mv "$md/tmp/$name" "$md/$1/$name"
}
msg cur S <<'M'
From: Alice Example <alice@example.org>
To: demo@example.org
Subject: Welcome to the imapd demo
Date: Mon, 2 Nov 2026 09:00:00 +0000
Message-ID: <welcome-1@example.org>

This Maildir was made by make demo.  Read, flag, move and delete
messages from your client: the changes land in the file names under
demo/home/Maildir, as with any Maildir tool.
M
msg cur SF <<'M'
From: Bob Example <bob@example.org>
To: demo@example.org
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=
Date: Tue, 3 Nov 2026 10:15:00 +0100
Message-ID: <greetings-2@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe! A flagged message with an encoded subject.
M
msg cur "" <<'M'
From: Carol Example <carol@example.org>
To: demo@example.org
Subject: Quarterly report (with attachment)
Date: Wed, 4 Nov 2026 16:30:00 +0000
Message-ID: <report-3@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=us-ascii

The report is attached.

--b1
Content-Type: text/csv; name="report.csv"
Content-Disposition: attachment; filename="report.csv"
Content-Transfer-Encoding: base64

cXVhcnRlcixyZXZlbnVlClExLDEwMApRMiwxMjAKUTMsMTUwClE0LDE4MAo=
--b1--
M
msg new "" <<'M'
From: Dave Example <dave@example.org>
To: demo@example.org
Subject: New mail, not seen yet
Date: Thu, 5 Nov 2026 08:00:00 +0000
Message-ID: <new-4@example.org>

This one arrived in new/ the way an MTA delivers.
M
