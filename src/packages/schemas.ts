import { z } from 'zod';

/** The consumer representation, as documented in /openapi.json. `model.ts` builds values of this shape. */
export const packageSchema = z
  .object({
    id: z.string().meta({ example: 'vmpkg_Eh5LYVKScVHpj7sM' }),
    name: z.string().nullable().meta({ example: 'ROCK-3' }),
    permalink: z.string().nullable().meta({ example: 'rock-3' }),
    cpuCores: z.number().int().nullable(),
    memoryGb: z.number().int().nullable(),
    storageGb: z.number().int().nullable(),
    ipv4Addresses: z.number().int().nullable(),
    monthlyBandwidthGb: z.number().int().nullable().meta({ description: 'In lists, from the package\'s detail: null until it is known (X-Packages-Detail)' }),
    dedicatedCpus: z.boolean().nullable().meta({ description: 'In lists, from the package\'s detail: null until it is known' }),
    privacy: z.enum(['public', 'private']).nullable(),
    group: z.object({ id: z.string(), name: z.string().nullable() }).nullable().meta({ description: 'In lists, from the package\'s detail: null until it is known' }),
    iconUrl: z.string().nullable(),
  })
  .strict()
  .meta({ id: 'Package' });

/** A list answer; with `fields=` each package holds only the fields asked for. */
export const packageListSchema = z.object({ packages: z.array(packageSchema.partial()) }).strict().meta({ id: 'PackageList' });
/** The picker's view (`group_by=group`): groups in list order, each with its packages; unknown group last with null id and name. */
export const packageGroupsSchema = z
  .object({
    groups: z.array(z.object({ id: z.string().nullable(), name: z.string().nullable(), packages: z.array(packageSchema.partial()) }).strict()),
  })
  .strict()
  .meta({ id: 'PackageGroups' });
export const packageAnswerSchema = z.object({ package: packageSchema }).strict().meta({ id: 'PackageAnswer' });
