/** Callback payload field formats against the public product's documented request (issue 15 item 8). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callbackDestType, displayAddress, fixedDecimals } from '../src/payload.ts';

test('destType / dstType: only VAULT, EXCHANGE, UNMANAGED', () => {
  for (const [ours, theirs] of [
    ['VAULT', 'VAULT'], ['VAULT_ACCOUNT', 'VAULT'], ['EXCHANGE', 'EXCHANGE'], ['EXCHANGE_ACCOUNT', 'EXCHANGE'],
    ['ONE_TIME_ADDRESS', 'UNMANAGED'], ['UNMANAGED', 'UNMANAGED'], ['EXTERNAL_WALLET', 'UNMANAGED'], ['INTERNAL_WALLET', 'UNMANAGED'], ['', ''],
  ] as const) assert.equal(callbackDestType(ours), theirs, ours);
});

test('amountStr / fee with the asset\'s decimals (their ETH example), never rounded; unknown assets as given', () => {
  assert.equal(fixedDecimals('0.01', 18), '0.010000000000000000');
  assert.equal(fixedDecimals('0.000597803762241', 18), '0.000597803762241000');
  assert.equal(fixedDecimals('1', 18), '1.000000000000000000');
  assert.equal(fixedDecimals('0.123456789012345678', 18), '0.123456789012345678');
  assert.equal(fixedDecimals('1.5', undefined), '1.5');
  assert.equal(fixedDecimals('', 18), '');
  assert.equal(fixedDecimals('7', 0), '7');
});

test('destAddress: ETH EIP-55 checksummed (their example), others unchanged', () => {
  assert.equal(displayAddress('ETH', '0x5dc69b1fbb13bafd09af88a782f0f285772ad5f8'), '0x5dC69B1Fbb13Bafd09af88a782F0F285772Ad5f8');
  assert.equal(displayAddress('ETH', 'not-an-address'), 'not-an-address');
  assert.equal(displayAddress('SOL', 'So1aNaDdReSs'), 'So1aNaDdReSs');
});
