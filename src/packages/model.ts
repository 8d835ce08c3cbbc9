import type { WirePackage } from './wire.js';

/** A package as consumers see it. A field Katapult did not send is null, never invented. */
export interface Package {
  id: string;
  name: string | null;
  permalink: string | null;
  cpuCores: number | null;
  memoryGb: number | null;
  storageGb: number | null;
  ipv4Addresses: number | null;
  monthlyBandwidthGb: number | null;
  dedicatedCpus: boolean | null;
  privacy: 'public' | 'private' | null;
  group: { id: string; name: string | null } | null;
  iconUrl: string | null;
}

export function toPackage(w: WirePackage): Package {
  return {
    id: w.id,
    name: w.name,
    permalink: w.permalink,
    cpuCores: w.cpu_cores,
    memoryGb: w.memory_in_gb,
    storageGb: w.storage_in_gb,
    ipv4Addresses: w.ipv4_addresses,
    monthlyBandwidthGb: w.monthly_bandwidth_allowance_in_gb,
    dedicatedCpus: w.use_dedicated_cpus,
    privacy: w.privacy,
    group: w.group ? { id: w.group.id, name: w.group.name } : null,
    iconUrl: w.icon?.url ?? null,
  };
}
