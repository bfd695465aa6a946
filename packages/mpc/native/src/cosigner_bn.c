/*
 * cosigner_bn: modular exponentiation for @cosigner/mpc on top of the OpenSSL BIGNUM code that the
 * node binary already contains and exports (no separate libcrypto is linked: the BN_* symbols stay
 * undefined in this shared object and resolve against the running node process at load time).
 *
 * Exported (Node-API):
 *   modPow(b: bigint, e: bigint, m: bigint, secret: boolean): bigint
 *     b^e mod m for 0 <= b < m, e >= 0, m > 1 odd. secret = true uses BN_mod_exp_mont_consttime
 *     with BN_FLG_CONSTTIME on the exponent; otherwise BN_mod_exp_mont.
 *   modPowAsync(b, e, m, secret): Promise<bigint>
 *     the same on a libuv thread-pool thread (own BN_CTX, no shared cache), so several
 *     exponentiations can run on several cores while the event loop stays free.
 *   modInv(a, m, secret): bigint    a^-1 mod m (0n if not invertible), BN_mod_inverse
 *   gcd(a, b): bigint               BN_gcd
 *   ctModSumProducts(m, terms): bigint   Σ terms[2i]·terms[2i+1] mod m, constant time (see there)
 *   fixedBaseNew / fixedBasePow      fixed-base tables, see below
 *   version(): string
 *
 * BigInt values are moved with napi_get_value_bigint_words / napi_create_bigint_words: the 64-bit
 * words are little-endian limbs, which on a little-endian host is exactly the byte string
 * BN_lebin2bn / BN_bn2lebinpad expect, so no radix conversion happens anywhere.
 *
 * Montgomery contexts are cached for the last few moduli (Paillier N^2, ring-Pedersen N̂, p^2 ...),
 * because the same few moduli are used thousands of times per protocol run.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cosigner_bn assumes a little-endian host (BigInt words == little-endian bytes)"
#endif

#define MONT_CACHE 8
#define MAX_WORDS 1024 /* 65536-bit operands at most */

typedef struct {
  BIGNUM *mod;
  BN_MONT_CTX *mont;
  uint64_t use;
} mont_slot;

/* Per-environment state (napi instance data), so worker_threads each get their own context and
 * cache instead of racing on globals. */
typedef struct {
  BN_CTX *ctx;
  mont_slot cache[MONT_CACHE];
  uint64_t tick;
} bn_state;

static void state_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  bn_state *st = (bn_state *)data;
  for (int i = 0; i < MONT_CACHE; i++) {
    if (st->cache[i].mod) {
      BN_clear_free(st->cache[i].mod);
      BN_MONT_CTX_free(st->cache[i].mont);
    }
  }
  BN_CTX_free(st->ctx);
  free(st);
}

static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, "ERR_MPC_NATIVE", msg);
  return NULL;
}

/* Read a BigInt into a fresh BIGNUM holding its magnitude (NULL + pending JS exception on
 * failure). neg_out == NULL: negative values are refused; otherwise *neg_out gets the sign. */
static BIGNUM *get_bn_ex(napi_env env, napi_value v, int secret, int *neg_out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_bigint) {
    throw_err(env, "expected a bigint");
    return NULL;
  }
  size_t count = 0;
  int sign = 0;
  if (napi_get_value_bigint_words(env, v, NULL, &count, NULL) != napi_ok) {
    throw_err(env, "bigint read failed");
    return NULL;
  }
  if (count > MAX_WORDS) {
    throw_err(env, "bigint too large");
    return NULL;
  }
  uint64_t stackbuf[80];
  uint64_t *words = count <= 80 ? stackbuf : (uint64_t *)malloc(count * 8 + 8);
  if (!words) {
    throw_err(env, "out of memory");
    return NULL;
  }
  size_t n = count;
  if (napi_get_value_bigint_words(env, v, &sign, &n, words) != napi_ok) {
    if (words != stackbuf) free(words);
    throw_err(env, "bigint read failed");
    return NULL;
  }
  BIGNUM *r = NULL;
  if (sign && !neg_out) {
    throw_err(env, "negative operand");
  } else {
    if (neg_out) *neg_out = sign ? 1 : 0;
    r = BN_lebin2bn((const unsigned char *)words, (int)(n * 8), NULL);
    if (!r) throw_err(env, "BN_lebin2bn failed");
  }
  if (secret) OPENSSL_cleanse(words, n * 8);
  if (words != stackbuf) free(words);
  return r;
}

static BIGNUM *get_bn(napi_env env, napi_value v, int secret) {
  return get_bn_ex(env, v, secret, NULL);
}

static napi_value from_bn(napi_env env, const BIGNUM *b, int secret) {
  int bytes = BN_num_bytes(b);
  size_t nw = (size_t)(bytes + 7) / 8;
  if (nw == 0) nw = 1;
  uint64_t stackbuf[80];
  uint64_t *words = nw <= 80 ? stackbuf : (uint64_t *)malloc(nw * 8);
  if (!words) return throw_err(env, "out of memory");
  if (BN_bn2lebinpad(b, (unsigned char *)words, (int)(nw * 8)) < 0) {
    if (words != stackbuf) free(words);
    return throw_err(env, "BN_bn2lebinpad failed");
  }
  napi_value out = NULL;
  napi_status st = napi_create_bigint_words(env, 0, nw, words, &out);
  if (secret) OPENSSL_cleanse(words, nw * 8);
  if (words != stackbuf) free(words);
  if (st != napi_ok) return throw_err(env, "bigint create failed");
  return out;
}

/* A cached Montgomery context for m (owned by the cache). */
static BN_MONT_CTX *mont_for(bn_state *st, const BIGNUM *m) {
  mont_slot *g_cache = st->cache;
  int free_slot = -1, lru = 0;
  for (int i = 0; i < MONT_CACHE; i++) {
    if (g_cache[i].mod == NULL) {
      if (free_slot < 0) free_slot = i;
      continue;
    }
    if (BN_cmp(g_cache[i].mod, m) == 0) {
      g_cache[i].use = ++st->tick;
      return g_cache[i].mont;
    }
    if (g_cache[i].use < g_cache[lru].use) lru = i;
  }
  int slot = free_slot >= 0 ? free_slot : lru;
  BIGNUM *mc = BN_dup(m);
  BN_MONT_CTX *mont = BN_MONT_CTX_new();
  if (!mc || !mont || !BN_MONT_CTX_set(mont, mc, st->ctx)) {
    BN_free(mc);
    BN_MONT_CTX_free(mont);
    return NULL;
  }
  if (g_cache[slot].mod) {
    BN_clear_free(g_cache[slot].mod);
    BN_MONT_CTX_free(g_cache[slot].mont);
  }
  g_cache[slot].mod = mc;
  g_cache[slot].mont = mont;
  g_cache[slot].use = ++st->tick;
  return mont;
}

static napi_value js_mod_pow(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4)
    return throw_err(env, "modPow(b, e, m, secret) takes 4 arguments");
  bool secret = false;
  if (napi_get_value_bool(env, argv[3], &secret) != napi_ok) return throw_err(env, "secret must be a boolean");
  bn_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || !st) return throw_err(env, "addon not initialised");
  BIGNUM *b = NULL, *e = NULL, *m = NULL, *r = NULL;
  napi_value out = NULL;
  if (!(b = get_bn(env, argv[0], secret))) goto done;
  if (!(e = get_bn(env, argv[1], secret))) goto done;
  if (!(m = get_bn(env, argv[2], 0))) goto done;
  if (!BN_is_odd(m) || BN_is_one(m)) {
    throw_err(env, "modulus must be odd and > 1");
    goto done;
  }
  if (BN_cmp(b, m) >= 0) {
    throw_err(env, "base must be reduced");
    goto done;
  }
  BN_MONT_CTX *mont = mont_for(st, m);
  if (!mont) {
    throw_err(env, "BN_MONT_CTX_set failed");
    goto done;
  }
  r = BN_new();
  if (!r) {
    throw_err(env, "out of memory");
    goto done;
  }
  int ok;
  if (secret) {
    BN_set_flags(e, BN_FLG_CONSTTIME);
    ok = BN_mod_exp_mont_consttime(r, b, e, m, st->ctx, mont);
  } else {
    ok = BN_mod_exp_mont(r, b, e, m, st->ctx, mont);
  }
  if (!ok) {
    throw_err(env, "BN_mod_exp failed");
    goto done;
  }
  out = from_bn(env, r, secret);
done:
  BN_clear_free(b);
  BN_clear_free(e);
  BN_free(m);
  BN_clear_free(r);
  return out;
}

/* ---- asynchronous variant: the exponentiation runs on a libuv pool thread ---------------------- */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  unsigned char *b, *e, *m, *r;
  size_t bl, el, ml, rl;
  int secret;
  int ok;
  const char *err;
} pow_job;

/* Copy a non-negative BigInt's little-endian bytes into a malloc'd buffer (main thread). */
static unsigned char *copy_words(napi_env env, napi_value v, size_t *len_out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_bigint) return NULL;
  size_t count = 0;
  int sign = 0;
  if (napi_get_value_bigint_words(env, v, NULL, &count, NULL) != napi_ok || count > MAX_WORDS) return NULL;
  if (count == 0) count = 1;
  uint64_t *words = (uint64_t *)calloc(count, 8);
  if (!words) return NULL;
  size_t n = count;
  if (napi_get_value_bigint_words(env, v, &sign, &n, words) != napi_ok || sign) {
    free(words);
    return NULL;
  }
  *len_out = n * 8;
  return (unsigned char *)words;
}

static void free_buf(unsigned char *p, size_t len) {
  if (p) {
    OPENSSL_cleanse(p, len);
    free(p);
  }
}

static void pow_execute(napi_env env, void *data) {
  (void)env;
  pow_job *j = (pow_job *)data;
  BN_CTX *ctx = BN_CTX_new();
  BIGNUM *b = BN_lebin2bn(j->b, (int)j->bl, NULL);
  BIGNUM *e = BN_lebin2bn(j->e, (int)j->el, NULL);
  BIGNUM *m = BN_lebin2bn(j->m, (int)j->ml, NULL);
  BIGNUM *r = BN_new();
  BN_MONT_CTX *mont = BN_MONT_CTX_new();
  j->ok = 0;
  if (!ctx || !b || !e || !m || !r || !mont) {
    j->err = "out of memory";
    goto done;
  }
  if (!BN_is_odd(m) || BN_is_one(m)) {
    j->err = "modulus must be odd and > 1";
    goto done;
  }
  if (BN_cmp(b, m) >= 0) {
    j->err = "base must be reduced";
    goto done;
  }
  if (!BN_MONT_CTX_set(mont, m, ctx)) {
    j->err = "BN_MONT_CTX_set failed";
    goto done;
  }
  int ok;
  if (j->secret) {
    BN_set_flags(e, BN_FLG_CONSTTIME);
    ok = BN_mod_exp_mont_consttime(r, b, e, m, ctx, mont);
  } else {
    ok = BN_mod_exp_mont(r, b, e, m, ctx, mont);
  }
  if (!ok) {
    j->err = "BN_mod_exp failed";
    goto done;
  }
  j->rl = ((size_t)BN_num_bytes(r) + 7) / 8 * 8;
  if (j->rl == 0) j->rl = 8;
  j->r = (unsigned char *)calloc(1, j->rl);
  if (!j->r || BN_bn2lebinpad(r, j->r, (int)j->rl) < 0) {
    j->err = "result conversion failed";
    goto done;
  }
  j->ok = 1;
done:
  BN_clear_free(b);
  BN_clear_free(e);
  BN_free(m);
  BN_clear_free(r);
  BN_MONT_CTX_free(mont);
  BN_CTX_free(ctx);
}

static void pow_complete(napi_env env, napi_status status, void *data) {
  pow_job *j = (pow_job *)data;
  napi_value out = NULL;
  if (status == napi_ok && j->ok &&
      napi_create_bigint_words(env, 0, j->rl / 8, (const uint64_t *)j->r, &out) == napi_ok) {
    napi_resolve_deferred(env, j->deferred, out);
  } else {
    napi_value msg, code, err;
    napi_create_string_utf8(env, j->err ? j->err : "modPowAsync failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, "ERR_MPC_NATIVE", NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, j->deferred, err);
  }
  napi_delete_async_work(env, j->work);
  free_buf(j->b, j->bl);
  free_buf(j->e, j->el);
  free_buf(j->m, j->ml);
  free_buf(j->r, j->rl);
  free(j);
}

static napi_value js_mod_pow_async(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4)
    return throw_err(env, "modPowAsync(b, e, m, secret) takes 4 arguments");
  bool secret = false;
  if (napi_get_value_bool(env, argv[3], &secret) != napi_ok) return throw_err(env, "secret must be a boolean");
  pow_job *j = (pow_job *)calloc(1, sizeof(pow_job));
  if (!j) return throw_err(env, "out of memory");
  j->secret = secret;
  j->b = copy_words(env, argv[0], &j->bl);
  j->e = copy_words(env, argv[1], &j->el);
  j->m = copy_words(env, argv[2], &j->ml);
  if (!j->b || !j->e || !j->m) {
    free_buf(j->b, j->bl);
    free_buf(j->e, j->el);
    free_buf(j->m, j->ml);
    free(j);
    return throw_err(env, "expected non-negative bigints");
  }
  napi_value promise, name;
  napi_create_string_utf8(env, "cosigner_bn.modPowAsync", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, name, pow_execute, pow_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    free_buf(j->b, j->bl);
    free_buf(j->e, j->el);
    free_buf(j->m, j->ml);
    free(j);
    return throw_err(env, "could not queue async work");
  }
  return promise;
}

/* ---- fixed-base exponentiation (ring-Pedersen s, t; CRT halves of t) --------------------------
 *
 * For a base g used many times with one modulus, precompute the table
 *   T[i][d] = g^(d * 16^i) (Montgomery form), 0 <= i < rows, 0 <= d < 16,
 * so g^e = prod_i T[i][e_i] over the base-16 digits e_i of e: `rows` Montgomery multiplications
 * and no squarings (about 4x fewer multiplications than a windowed exponentiation). Every row
 * is processed whatever the exponent's length, and each entry is read with a full masked scan
 * of its row, so the memory access pattern does not depend on the exponent. The multiplications
 * use OpenSSL's public BN_mod_mul_montgomery, whose operand-length normalisation is not strictly
 * constant time.
 */
typedef struct {
  BIGNUM *m;
  BN_MONT_CTX *mont;
  int rows;
  size_t width; /* bytes per entry, multiple of 8 */
  unsigned char *table;
} fixed_base;

static void fixed_base_free(fixed_base *fb) {
  if (!fb) return;
  if (fb->table) {
    OPENSSL_cleanse(fb->table, (size_t)fb->rows * 16 * fb->width);
    free(fb->table);
  }
  BN_MONT_CTX_free(fb->mont);
  BN_clear_free(fb->m);
  free(fb);
}

static void fixed_base_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  fixed_base_free((fixed_base *)data);
}

static napi_value js_fixed_base_new(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3)
    return throw_err(env, "fixedBaseNew(b, m, bits) takes 3 arguments");
  int32_t bits = 0;
  if (napi_get_value_int32(env, argv[2], &bits) != napi_ok || bits < 4 || bits > 16384)
    return throw_err(env, "bits out of range");
  bn_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || !st) return throw_err(env, "addon not initialised");
  BIGNUM *b = NULL, *cur = NULL, *acc = NULL;
  fixed_base *fb = (fixed_base *)calloc(1, sizeof(fixed_base));
  napi_value out = NULL;
  if (!fb) return throw_err(env, "out of memory");
  if (!(b = get_bn(env, argv[0], 1))) goto fail_js;
  if (!(fb->m = get_bn(env, argv[1], 0))) goto fail_js;
  if (!BN_is_odd(fb->m) || BN_is_one(fb->m) || BN_cmp(b, fb->m) >= 0) {
    throw_err(env, "need an odd modulus > 1 and a reduced base");
    goto fail_js;
  }
  fb->rows = (bits + 3) / 4;
  fb->width = ((size_t)BN_num_bytes(fb->m) + 7) / 8 * 8;
  fb->table = (unsigned char *)aligned_alloc(8, (size_t)fb->rows * 16 * fb->width);
  fb->mont = BN_MONT_CTX_new();
  cur = BN_new();
  acc = BN_new();
  if (!fb->table || !fb->mont || !cur || !acc || !BN_MONT_CTX_set(fb->mont, fb->m, st->ctx)) goto fail;
  if (!BN_to_montgomery(cur, b, fb->mont, st->ctx)) goto fail;
  for (int i = 0; i < fb->rows; i++) {
    unsigned char *row = fb->table + (size_t)i * 16 * fb->width;
    /* d = 0: Montgomery one */
    if (!BN_to_montgomery(acc, BN_value_one(), fb->mont, st->ctx)) goto fail;
    if (BN_bn2lebinpad(acc, row, (int)fb->width) < 0) goto fail;
    if (!BN_copy(acc, cur)) goto fail;
    for (int d = 1; d < 16; d++) {
      if (d > 1 && !BN_mod_mul_montgomery(acc, acc, cur, fb->mont, st->ctx)) goto fail;
      if (BN_bn2lebinpad(acc, row + (size_t)d * fb->width, (int)fb->width) < 0) goto fail;
    }
    /* next row: cur^16 */
    for (int k = 0; k < 4; k++)
      if (!BN_mod_mul_montgomery(cur, cur, cur, fb->mont, st->ctx)) goto fail;
  }
  BN_clear_free(b);
  BN_clear_free(cur);
  BN_clear_free(acc);
  if (napi_create_external(env, fb, fixed_base_finalize, NULL, &out) != napi_ok) {
    fixed_base_free(fb);
    return throw_err(env, "could not create handle");
  }
  return out;
fail:
  throw_err(env, "fixed-base precomputation failed");
fail_js:
  BN_clear_free(b);
  BN_clear_free(cur);
  BN_clear_free(acc);
  fixed_base_free(fb);
  return NULL;
}

static napi_value js_fixed_base_pow(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2)
    return throw_err(env, "fixedBasePow(handle, e) takes 2 arguments");
  fixed_base *fb = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&fb) != napi_ok || !fb) return throw_err(env, "bad handle");
  bn_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || !st) return throw_err(env, "addon not initialised");
  size_t elen = 0;
  unsigned char *e = copy_words(env, argv[1], &elen);
  if (!e) return throw_err(env, "expected a non-negative bigint exponent");
  /* e must fit in rows nibbles */
  size_t need = ((size_t)fb->rows + 1) / 2;
  for (size_t k = need; k < elen; k++) {
    if (e[k]) {
      free_buf(e, elen);
      return throw_err(env, "exponent too large for the table");
    }
  }
  if (fb->rows % 2 == 1 && need - 1 < elen && (e[need - 1] >> 4)) {
    free_buf(e, elen);
    return throw_err(env, "exponent too large for the table");
  }
  unsigned char *sel = (unsigned char *)aligned_alloc(8, fb->width);
  BIGNUM *acc = BN_new(), *tmp = BN_new(), *r = BN_new();
  napi_value out = NULL;
  if (!sel || !acc || !tmp || !r) {
    throw_err(env, "out of memory");
    goto done;
  }
  BN_set_flags(acc, BN_FLG_CONSTTIME);
  BN_set_flags(tmp, BN_FLG_CONSTTIME);
  for (int i = 0; i < fb->rows; i++) {
    size_t byte = (size_t)i / 2;
    unsigned int digit = byte < elen ? (e[byte] >> ((i & 1) * 4)) & 15u : 0u;
    const unsigned char *row = fb->table + (size_t)i * 16 * fb->width;
    uint64_t *sw = (uint64_t *)sel;
    size_t nw = fb->width / 8;
    memset(sel, 0, fb->width);
    for (unsigned int d = 0; d < 16; d++) {
      /* mask = all ones iff d == digit, computed without branches */
      uint64_t diff = (uint64_t)(d ^ digit);
      uint64_t mask = ((diff | (0 - diff)) >> 63) - 1;
      const uint64_t *ent = (const uint64_t *)(row + (size_t)d * fb->width);
      for (size_t k = 0; k < nw; k++) sw[k] |= ent[k] & mask;
    }
    if (i == 0) {
      if (!BN_lebin2bn(sel, (int)fb->width, acc)) goto fail;
    } else {
      if (!BN_lebin2bn(sel, (int)fb->width, tmp)) goto fail;
      if (!BN_mod_mul_montgomery(acc, acc, tmp, fb->mont, st->ctx)) goto fail;
    }
  }
  if (!BN_from_montgomery(r, acc, fb->mont, st->ctx)) goto fail;
  out = from_bn(env, r, 1);
  goto done;
fail:
  throw_err(env, "fixed-base exponentiation failed");
done:
  if (sel) {
    OPENSSL_cleanse(sel, fb->width);
    free(sel);
  }
  free_buf(e, elen);
  BN_clear_free(acc);
  BN_clear_free(tmp);
  BN_clear_free(r);
  return out;
}

/* modInv(a, m, secret): a^-1 mod m for 0 <= a < m, m > 1; 0n when gcd(a, m) != 1. secret selects
 * OpenSSL's branch-free inversion (BN_FLG_CONSTTIME); otherwise the faster binary algorithm. */
static napi_value js_mod_inv(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3)
    return throw_err(env, "modInv(a, m, secret) takes 3 arguments");
  bool secret = true;
  if (napi_get_value_bool(env, argv[2], &secret) != napi_ok) return throw_err(env, "secret must be a boolean");
  bn_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || !st) return throw_err(env, "addon not initialised");
  BIGNUM *a = NULL, *m = NULL, *r = NULL;
  napi_value out = NULL;
  if (!(a = get_bn(env, argv[0], 1))) goto done;
  if (!(m = get_bn(env, argv[1], 0))) goto done;
  if (BN_is_zero(m) || BN_is_one(m) || BN_cmp(a, m) >= 0) {
    throw_err(env, "need 0 <= a < m, m > 1");
    goto done;
  }
  if (secret) BN_set_flags(a, BN_FLG_CONSTTIME);
  r = BN_new();
  if (!r) {
    throw_err(env, "out of memory");
    goto done;
  }
  if (!BN_mod_inverse(r, a, m, st->ctx)) {
    ERR_clear_error(); /* not invertible: report 0 */
    BN_zero(r);
  }
  out = from_bn(env, r, 1);
done:
  BN_clear_free(a);
  BN_free(m);
  BN_clear_free(r);
  return out;
}

/* gcd(a, b) for a, b >= 0 (BN_gcd). */
static napi_value js_gcd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2)
    return throw_err(env, "gcd(a, b) takes 2 arguments");
  bn_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || !st) return throw_err(env, "addon not initialised");
  BIGNUM *a = NULL, *b = NULL, *r = NULL;
  napi_value out = NULL;
  if (!(a = get_bn(env, argv[0], 0))) goto done;
  if (!(b = get_bn(env, argv[1], 0))) goto done;
  r = BN_new();
  if (!r || !BN_gcd(r, a, b, st->ctx)) {
    throw_err(env, "BN_gcd failed");
    goto done;
  }
  out = from_bn(env, r, 0);
done:
  BN_free(a);
  BN_free(b);
  BN_free(r);
  return out;
}

/* ---- constant-time modular sums of products (secret scalars, CRT recombination) -------------- */

/* Makes b's limb array hold at least nwords words without changing its value (BN_consttime_swap
 * needs both operands allocated to the same width; bn_wexpand is not public). */
static int widen(BIGNUM *b, int nwords) {
  int bit = nwords * BN_BITS2 - 1;
  if (BN_num_bits(b) > bit) return 1;
  return BN_set_bit(b, bit) && BN_clear_bit(b, bit);
}

/* ctModSumProducts(m, terms): (Σ_i terms[2i]·terms[2i+1]) mod m in [0, m), for m > 1 and signed
 * terms of any size. Every operand carries BN_FLG_CONSTTIME: the reductions go through
 * BN_nnmod -> BN_div's constant-time path, a negative term is mapped to m - (|t| mod m) with
 * BN_consttime_swap (no branch on the sign), and products and sums are schoolbook BN_mul / BN_add,
 * whose running time depends only on the operands' word lengths. What is NOT hidden: those word
 * lengths (as everywhere at the BigInt boundary, see native.ts). m may be secret (a CRT prime). */
static napi_value js_ct_mod_sum_products(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2)
    return throw_err(env, "ctModSumProducts(m, terms) takes 2 arguments");
  bool isArray = false;
  uint32_t len = 0;
  if (napi_is_array(env, argv[1], &isArray) != napi_ok || !isArray || napi_get_array_length(env, argv[1], &len) != napi_ok || len % 2 != 0 || len > 64)
    return throw_err(env, "terms must be an array of at most 32 pairs");
  bn_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || !st) return throw_err(env, "addon not initialised");
  BN_CTX *ctx = st->ctx;
  BIGNUM *m = NULL, *acc = NULL, *x[2] = {NULL, NULL}, *alt = NULL, *prod = NULL;
  napi_value out = NULL;
  if (!(m = get_bn(env, argv[0], 1))) goto done;
  if (BN_is_zero(m) || BN_is_one(m)) {
    throw_err(env, "modulus must be > 1");
    goto done;
  }
  BN_set_flags(m, BN_FLG_CONSTTIME);
  int nwords = (BN_num_bits(m) + BN_BITS2 - 1) / BN_BITS2 + 1;
  acc = BN_new();
  alt = BN_new();
  prod = BN_new();
  if (!acc || !alt || !prod) {
    throw_err(env, "out of memory");
    goto done;
  }
  BN_set_flags(acc, BN_FLG_CONSTTIME);
  BN_set_flags(alt, BN_FLG_CONSTTIME);
  BN_set_flags(prod, BN_FLG_CONSTTIME);
  BN_zero(acc);
  for (uint32_t i = 0; i < len; i += 2) {
    for (int k = 0; k < 2; k++) {
      napi_value v;
      int neg = 0;
      if (napi_get_element(env, argv[1], i + (uint32_t)k, &v) != napi_ok) {
        throw_err(env, "terms read failed");
        goto done;
      }
      BN_clear_free(x[k]);
      if (!(x[k] = get_bn_ex(env, v, 1, &neg))) goto done;
      BN_set_flags(x[k], BN_FLG_CONSTTIME);
      /* x = |t| mod m, alt = m - x; take alt when t < 0 (alt = m when x = 0: the final
       * reduction folds it). */
      if (!BN_nnmod(x[k], x[k], m, ctx) || !BN_sub(alt, m, x[k]) || !widen(x[k], nwords) || !widen(alt, nwords)) {
        throw_err(env, "BN reduction failed");
        goto done;
      }
      BN_consttime_swap((BN_ULONG)neg, x[k], alt, nwords);
    }
    if (!BN_mul(prod, x[0], x[1], ctx) || !BN_add(acc, acc, prod) || !BN_nnmod(acc, acc, m, ctx)) {
      throw_err(env, "BN arithmetic failed");
      goto done;
    }
  }
  out = from_bn(env, acc, 1);
done:
  BN_clear_free(m);
  BN_clear_free(acc);
  BN_clear_free(alt);
  BN_clear_free(prod);
  BN_clear_free(x[0]);
  BN_clear_free(x[1]);
  return out;
}

static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  const char *v = OpenSSL_version(OPENSSL_VERSION);
  char buf[256];
  snprintf(buf, sizeof buf, "cosigner_bn/1 %s", v ? v : "unknown");
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  bn_state *st = (bn_state *)calloc(1, sizeof(bn_state));
  if (!st) return throw_err(env, "out of memory");
  st->ctx = BN_CTX_secure_new();
  if (!st->ctx) st->ctx = BN_CTX_new();
  if (!st->ctx || napi_set_instance_data(env, st, state_finalize, NULL) != napi_ok) {
    BN_CTX_free(st->ctx);
    free(st);
    return throw_err(env, "BN_CTX_new failed");
  }
  napi_property_descriptor props[] = {
      {"modPow", NULL, js_mod_pow, NULL, NULL, NULL, napi_enumerable, NULL},
      {"modPowAsync", NULL, js_mod_pow_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fixedBaseNew", NULL, js_fixed_base_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fixedBasePow", NULL, js_fixed_base_pow, NULL, NULL, NULL, napi_enumerable, NULL},
      {"modInv", NULL, js_mod_inv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gcd", NULL, js_gcd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ctModSumProducts", NULL, js_ct_mod_sum_products, NULL, NULL, NULL, napi_enumerable, NULL},
      {"version", NULL, js_version, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, 8, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
