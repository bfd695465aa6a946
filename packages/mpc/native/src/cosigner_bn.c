/*
 * cosigner_bn: modular exponentiation for @cosigner/mpc on top of the OpenSSL BIGNUM code that the
 * node binary already contains and exports (no separate libcrypto is linked: the BN_* symbols stay
 * undefined in this shared object and resolve against the running node process at load time).
 *
 * Exported (Node-API, synchronous):
 *   modPow(b: bigint, e: bigint, m: bigint, secret: boolean): bigint
 *     b^e mod m for 0 <= b, e >= 0, m > 1 odd. secret = true uses BN_mod_exp_mont_consttime with
 *     BN_FLG_CONSTTIME on the exponent; otherwise BN_mod_exp_mont.
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

static BN_CTX *g_ctx = NULL;
static mont_slot g_cache[MONT_CACHE];
static uint64_t g_tick = 0;

static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, "ERR_MPC_NATIVE", msg);
  return NULL;
}

/* Read a non-negative BigInt into a fresh BIGNUM (NULL + pending JS exception on failure). */
static BIGNUM *get_bn(napi_env env, napi_value v, int secret) {
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
  if (sign) {
    throw_err(env, "negative operand");
  } else {
    r = BN_lebin2bn((const unsigned char *)words, (int)(n * 8), NULL);
    if (!r) throw_err(env, "BN_lebin2bn failed");
  }
  if (secret) OPENSSL_cleanse(words, n * 8);
  if (words != stackbuf) free(words);
  return r;
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
static BN_MONT_CTX *mont_for(const BIGNUM *m) {
  int free_slot = -1, lru = 0;
  for (int i = 0; i < MONT_CACHE; i++) {
    if (g_cache[i].mod == NULL) {
      if (free_slot < 0) free_slot = i;
      continue;
    }
    if (BN_cmp(g_cache[i].mod, m) == 0) {
      g_cache[i].use = ++g_tick;
      return g_cache[i].mont;
    }
    if (g_cache[i].use < g_cache[lru].use) lru = i;
  }
  int slot = free_slot >= 0 ? free_slot : lru;
  BIGNUM *mc = BN_dup(m);
  BN_MONT_CTX *mont = BN_MONT_CTX_new();
  if (!mc || !mont || !BN_MONT_CTX_set(mont, mc, g_ctx)) {
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
  g_cache[slot].use = ++g_tick;
  return mont;
}

static napi_value js_mod_pow(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4)
    return throw_err(env, "modPow(b, e, m, secret) takes 4 arguments");
  bool secret = false;
  if (napi_get_value_bool(env, argv[3], &secret) != napi_ok) return throw_err(env, "secret must be a boolean");
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
  BN_MONT_CTX *mont = mont_for(m);
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
    ok = BN_mod_exp_mont_consttime(r, b, e, m, g_ctx, mont);
  } else {
    ok = BN_mod_exp_mont(r, b, e, m, g_ctx, mont);
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
  if (!g_ctx) g_ctx = BN_CTX_secure_new();
  if (!g_ctx) g_ctx = BN_CTX_new();
  if (!g_ctx) return throw_err(env, "BN_CTX_new failed");
  napi_property_descriptor props[] = {
      {"modPow", NULL, js_mod_pow, NULL, NULL, NULL, napi_enumerable, NULL},
      {"version", NULL, js_version, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, 2, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
