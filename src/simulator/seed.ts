/**
 * The simulator's catalogue. The 20 public packages are the real ones Katapult listed in the recorded
 * responses (ids, names and sizes as recorded); bandwidth and groups follow the recorded gets of ROCK-1/3/6.
 * The private packages belong to two made-up organizations so that scoping can be exercised.
 */
export interface SimPackage {
  id: string;
  name: string;
  permalink: string;
  cpu_cores: number;
  ipv4_addresses: number;
  memory_in_gb: number;
  storage_in_gb: number;
  monthly_bandwidth_allowance_in_gb: number | null;
  privacy: 'public' | 'private';
  icon: { id: string; url: string } | null;
  use_dedicated_cpus: boolean;
  group: { id: string; name: string } | null;
  /** Which organization may see a private package. Never sent on the wire. */
  organizationId?: string;
}

export interface SimOrganization {
  id: string;
  sub_domain: string;
  name: string;
}

const STANDARD = { id: 'vmpkgrp_P5kCZvAtvXRC3sVl', name: 'Standard vCPU' };
const HIGH_MEMORY = { id: 'vmpkgrp_Hm7QwE2rTy9uIo1p', name: 'High Memory' };
const DEDICATED = { id: 'vmpkgrp_Dd4XcV6bNm8kLj2h', name: 'Dedicated vCPU' };

const PUBLIC: Array<[string, string, number, number, number]> = [
  ['vmpkg_dhG25G5SX3HrA5j5', 'ROCK-1', 1, 1, 10],
  ['vmpkg_Eh5LYVKScVHpj7sM', 'ROCK-3', 1, 3, 25],
  ['vmpkg_dMeEyd1g8hwIlxR8', 'ROCK-6', 2, 6, 50],
  ['vmpkg_vYQHiDoHeSvsFCFI', 'ROCK-12', 4, 12, 100],
  ['vmpkg_WHJ4euoDO9S5Ncrc', 'ROCK-18', 6, 18, 150],
  ['vmpkg_Xr1hcf7e1oZYZMkK', 'BOULDER-20', 2, 20, 25],
  ['vmpkg_tBK6cizGTf9GhZpg', 'ROCK-24', 8, 24, 200],
  ['vmpkg_VnOqg6SyU8vqLf8m', 'ROCK-36', 12, 36, 300],
  ['vmpkg_X3nS8we8RuNFi2ke', 'BOULDER-40', 4, 40, 50],
  ['vmpkg_7k6bXXWeEXIc17Yt', 'ROCK-48', 16, 48, 400],
  ['vmpkg_7EjHNfEELrD0z26e', 'ROCK-72', 24, 72, 600],
  ['vmpkg_Vv3avl0BcXsHoq6t', 'BOULDER-80', 8, 80, 100],
  ['vmpkg_O2mMiznAzunoUd91', 'ROCK-96', 32, 96, 800],
  ['vmpkg_uxUwCBITlkLhmSqo', 'ROCK-144', 48, 144, 1200],
  ['vmpkg_N9v00VtGzaJShhhN', 'BOULDER-160', 16, 160, 200],
  ['vmpkg_2dO1OYPl4pcNEKEE', 'ROCK-192', 64, 192, 1600],
  ['vmpkg_ubLZ0i8iCwYo7pPr', 'ROCK-288', 96, 288, 2400],
  ['vmpkg_25zXSyE1xJgRHKwK', 'BOULDER-320', 32, 320, 400],
  ['vmpkg_CaSziLoMYOKS1Pxi', 'BOULDER-640', 64, 640, 800],
  ['vmpkg_GDVwfn0oSCGPbqsE', 'BOULDER-960', 96, 960, 1200],
];

export const ORGANIZATIONS: SimOrganization[] = [
  { id: 'org_Ac7meCoRp0rat10n', sub_domain: 'acme', name: 'Acme Corp' },
  { id: 'org_G1obexInd5tr1es', sub_domain: 'globex', name: 'Globex Industries' },
  { id: 'org_In1techN0Pr1vat', sub_domain: 'initech', name: 'Initech' },
];

function pkg(id: string, name: string, cores: number, memory: number, storage: number, extra: Partial<SimPackage> = {}): SimPackage {
  const boulder = name.startsWith('BOULDER');
  return {
    id,
    name,
    permalink: name.toLowerCase(),
    cpu_cores: cores,
    ipv4_addresses: 1,
    memory_in_gb: memory,
    storage_in_gb: storage,
    monthly_bandwidth_allowance_in_gb: 1024 * Math.min(20, Math.ceil(memory / 2)),
    privacy: 'public',
    icon: null,
    use_dedicated_cpus: false,
    group: boulder ? HIGH_MEMORY : STANDARD,
    ...extra,
  };
}

export function seedPackages(): SimPackage[] {
  const [acme, globex] = ORGANIZATIONS;
  return [
    ...PUBLIC.map(([id, name, c, m, s]) => pkg(id, name, c, m, s)),
    pkg('vmpkg_AcmeGpu64xQ1w2E', 'ACME-DEDI-64', 32, 64, 1000, {
      privacy: 'private',
      use_dedicated_cpus: true,
      group: DEDICATED,
      monthly_bandwidth_allowance_in_gb: null,
      icon: { id: 'att_AcmeIcon00000001', url: 'https://example.invalid/icons/acme.png' },
      organizationId: acme!.id,
    }),
    pkg('vmpkg_AcmeTiny2R3t4Y5', 'ACME-TINY-2', 1, 2, 20, { privacy: 'private', organizationId: acme!.id }),
    pkg('vmpkg_G1obexDb128U7i8', 'GLOBEX-DB-128', 16, 128, 2000, {
      privacy: 'private',
      use_dedicated_cpus: true,
      group: DEDICATED,
      organizationId: globex!.id,
    }),
  ];
}

/** `n` more public packages, for catalogues that span several pages. */
export function generatedPackages(n: number): SimPackage[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `vmpkg_Gen${String(i).padStart(13, '0')}`;
    return pkg(id, `PEBBLE-${i + 1}`, 1 + (i % 8), 1 + (i % 32), 10 * (1 + (i % 50)));
  });
}

/**
 * `count` more organizations (`org-0` …), each with `each` private packages of its own: the catalogue of
 * a consumer that lists many organizations at once (the amplification pattern of the budget tests).
 */
export function manyOrganizations(count: number, each: number): { organizations: SimOrganization[]; packages: SimPackage[] } {
  const organizations = Array.from({ length: count }, (_, i) => ({ id: `org_Many${String(i).padStart(8, '0')}`, sub_domain: `org-${i}`, name: `Org ${i}` }));
  const packages = organizations.flatMap((org, i) =>
    Array.from({ length: each }, (_, j) => {
      const n = i * each + j;
      return pkg(`vmpkg_Many${String(n).padStart(10, '0')}`, `ORG${i}-PKG-${j}`, 1 + (j % 8), 1 + (j % 32), 10 * (1 + j), { privacy: 'private', organizationId: org.id });
    }),
  );
  return { organizations, packages };
}
