#!/bin/sh
# failure.sh - a store or spool failure is TEMPFAIL (451 4.3.0) with the reason in the log, and
# leaves no spool file and no quota count: a corrupt target record (RCPT), the spool's
# incoming/ replaced by a file (DATA), queue/ replaced by a file (the rename after the commit
# fails: the commit is taken back), a full store (MDB_MAP_FULL at the commit), and a full
# filesystem (ENOSPC, on a small tmpfs when this test may mount one: at the commit, and while
# the body is written). All hold as root.
. "$top_srcdir/tests/milter/lib.sh"
setup_store
start

nothing_left() {
    expect_eq "$(count_queue)" 0 "$1: no copy in queue/"
    expect_eq "$(incoming_files)" "" "$1: nothing in incoming/"
    expect_eq "$(quota_used acme)" 0 "$1: nothing counted"
    expect_eq "$(mdb_dump -p -s queue "$T/store" | grep -c 'target=')" 0 "$1: no queue record"
}

# 1. spool: incoming/ is a file
mv "$SPOOL/incoming" "$SPOOL/incoming.real"
: >"$SPOOL/incoming"
mt failure.lua -D step=data
expect_log "QFAILdata: temporary failure: cannot create the reception file" "incoming/ unusable"
rm "$SPOOL/incoming"
mv "$SPOOL/incoming.real" "$SPOOL/incoming"
nothing_left "incoming/ unusable"

# 2. spool: queue/ is a file: the copy is written and committed, the rename fails, the commit
#    is taken back
mv "$SPOOL/queue" "$SPOOL/queue.real"
: >"$SPOOL/queue"
mt failure.lua -D step=eom
expect_log "QFAILeom: temporary failure: spool: cannot move" "queue/ unusable"
rm "$SPOOL/queue"
mv "$SPOOL/queue.real" "$SPOOL/queue"
nothing_left "queue/ unusable"

# 3. store: a corrupt target record makes the lookup fail
stop
printf 'acme\ngarbage\n' | mdb_load -T -s targets "$T/store" || fail "mdb_load"
start
mt failure.lua -D step=rcpt
expect_log "QFAILrcpt: temporary failure: target acme of <bob@acme.example>" "corrupt store"
stop

# 4. store: full (MDB_MAP_FULL at the commit). A fresh 1 MB store, filled up with junk.
rm -rf "$T/store" "$T/master.key"
MAP_SIZE=1M
write_conf
setup_store
i=0
for size in 65536 16384 4096 1024 256; do
    while :; do
        i=$((i + 1))
        v=$(head -c $((size / 2)) /dev/zero | od -An -tx1 -v | tr -d ' \n')
        printf 'junk%06d\n%s\n' "$i" "$v" | mdb_load -T -s meta "$T/store" 2>/dev/null || break
    done
done
start
mt failure.lua -D step=eom
expect_log "QFAILeom: temporary failure: store" "full store"
expect_log "is full (store.map_size" "full store"
nothing_left "full store"
stop

# 5. the spool's filesystem is full (ENOSPC), on a 2 MB tmpfs
rm -rf "$T/store" "$T/master.key"
MAP_SIZE=16M
write_conf
setup_store
mkdir -p "$SPOOL"
if mount -t tmpfs -o size=2m byosmtp-test "$SPOOL" 2>/dev/null; then
    start
    mt failure.lua -D step=eom -D kb=1400
    expect_log "QFAILeom: temporary failure: spool" "ENOSPC"
    expect_log "No space left on device" "ENOSPC"
    nothing_left "full filesystem"
    # a body larger than the filesystem: writing the reception file fails mid-body, where
    # byosmtpd sends no reply (SMFIP_NR_BODY); the 451 comes at the end of the message
    mt failure.lua -D step=body -D kb=3000
    expect_log "QFAILbody: temporary failure: spool" "ENOSPC in the body"
    expect_log ".rcv: write failed: No space left on device" "ENOSPC in the body"
    nothing_left "full filesystem, body"
    stop
    umount "$SPOOL"
else
    echo "note: cannot mount a tmpfs here; the ENOSPC case was not run"
fi
finish
