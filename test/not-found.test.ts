import { describe, expect, it } from 'vitest';
import { NotFoundCatalog } from '../src/http/errors.js';

const PKG = { package_not_found: { message: 'no package matches', katapult: 'No package was found' } };

/** A resource declares its not-found codes; the composition root merges them or refuses to start. */
describe('not-found codes', () => {
  it('answers a declared code with its 404 and its words, and an undeclared one as the generic not_found', () => {
    const catalog = new NotFoundCatalog([PKG]);
    const declared = catalog.error('package_not_found');
    expect([declared.status, declared.code, declared.message]).toEqual([404, 'package_not_found', 'no package matches']);
    expect(catalog.katapult('package_not_found')).toBe('No package was found');
    const other = catalog.error('data_center_not_found');
    expect([other.status, other.code]).toEqual([404, 'not_found']);
    expect([...catalog.codes]).toEqual(['package_not_found']);
  });

  it.each([
    ['a code not of the not-found form', [{ data_center: PKG.package_not_found }], /must be Katapult's <thing>_not_found/],
    ['our own route_not_found', [{ route_not_found: PKG.package_not_found }], /must be Katapult's/],
    ['a code without its Katapult description', [{ vm_not_found: { message: 'no vm', katapult: '' } }], /needs this service's message and Katapult's description/],
    ['a code declared twice, differently', [PKG, { package_not_found: { ...PKG.package_not_found, message: 'other' } }], /declared twice/],
  ])('refuses %s', (_, declarations, error) => {
    expect(() => new NotFoundCatalog(declarations)).toThrow(error);
  });

  it('takes the same declaration twice', () => {
    expect([...new NotFoundCatalog([PKG, PKG]).codes]).toEqual(['package_not_found']);
  });
});
