// Through the test datapath with Cilium 1.16 (no protocol in keys) and 1.19 (exact protocol) rules, random
// backend selection.
import { trafficStory } from './traffic-story.ts';

trafficStory('1.16', false);
trafficStory('1.19', false);
