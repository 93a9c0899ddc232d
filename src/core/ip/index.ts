// IP address and range math shared by the allocator, the agent and the speaker. Pure.
export * from './address.ts';
export * from './range.ts';
