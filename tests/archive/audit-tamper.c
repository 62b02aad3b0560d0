/* audit-tamper.c - what someone with write access to the store could do to
 * the audit log, done with LMDB directly (never through Clawback), so that
 * tests/archive/audit.sh can expect `claw audit verify` to find it:
 *
 *   audit-tamper DIR edit N       change one byte of record N's last field
 *   audit-tamper DIR delete N     remove record N
 *   audit-tamper DIR swap N M     exchange records N and M
 *   audit-tamper DIR insert N     shift records N.. up one and put a copy of
 *                                 record N-1 at N
 *   audit-tamper DIR truncate     remove the last record (the head kept)
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
key_of(unsigned char k[8], uint64_t n)
{
    for (int i = 7; i >= 0; i--, n >>= 8)
        k[i] = (unsigned char)n;
}

static int
die(const char *what, int rc)
{
    fprintf(stderr, "audit-tamper: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

/* Copy record @from's bytes to key @to (malloc'd copy: LMDB's pointer
 * goes stale on the put). */
static int
copy_record(MDB_txn *txn, MDB_dbi dbi, uint64_t from, uint64_t to)
{
    unsigned char fk[8], tk[8];
    key_of(fk, from);
    key_of(tk, to);
    MDB_val k = {8, fk}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc)
        return rc;
    void *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    MDB_val k2 = {8, tk}, v2 = {v.mv_size, copy};
    rc = mdb_put(txn, dbi, &k2, &v2, 0);
    free(copy);
    return rc;
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: audit-tamper DIR edit|delete|swap|insert|truncate [N [M]]\n");
        return 64;
    }
    const char *op = argv[2];
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    uint64_t m = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (!rc)
        rc = mdb_env_set_maxdbs(env, 32);
    if (!rc)
        rc = mdb_env_open(env, argv[1], 0, 0644);
    if (rc)
        return die(argv[1], rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, "audit", 0, &dbi)))
        return die("open the audit database", rc);
    unsigned char kb[8];
    MDB_val k = {8, kb}, v;
    MDB_cursor *c;
    uint64_t last = 0;
    if (!(rc = mdb_cursor_open(txn, dbi, &c))) {
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0)
            for (size_t i = 0; i < 8; i++)
                last = last << 8 | ((unsigned char *)k.mv_data)[i];
        mdb_cursor_close(c);
    }
    k.mv_data = kb;
    if (!strcmp(op, "edit")) {
        key_of(kb, n);
        if ((rc = mdb_get(txn, dbi, &k, &v)))
            return die("record", rc);
        unsigned char *copy = malloc(v.mv_size);
        memcpy(copy, v.mv_data, v.mv_size);
        copy[v.mv_size - 1] ^= 0x01; /* "revoked" -> "revokee" and the like */
        MDB_val v2 = {v.mv_size, copy};
        rc = mdb_put(txn, dbi, &k, &v2, 0);
        free(copy);
    } else if (!strcmp(op, "delete") || !strcmp(op, "truncate")) {
        key_of(kb, !strcmp(op, "truncate") ? last : n);
        rc = mdb_del(txn, dbi, &k, NULL);
    } else if (!strcmp(op, "swap")) {
        /* via a key past the end */
        if (!(rc = copy_record(txn, dbi, n, last + 1)) && !(rc = copy_record(txn, dbi, m, n)) &&
            !(rc = copy_record(txn, dbi, last + 1, m))) {
            key_of(kb, last + 1);
            rc = mdb_del(txn, dbi, &k, NULL);
        }
    } else if (!strcmp(op, "insert")) {
        for (uint64_t i = last; i >= n && !rc; i--)
            rc = copy_record(txn, dbi, i, i + 1);
        if (!rc)
            rc = copy_record(txn, dbi, n - 1, n);
    } else {
        fprintf(stderr, "audit-tamper: unknown operation '%s'\n", op);
        return 64;
    }
    if (rc || (rc = mdb_txn_commit(txn)))
        return die(op, rc);
    mdb_env_close(env);
    return 0;
}
