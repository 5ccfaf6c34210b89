import { vlVitestConfig } from '@vl/vitest-config';

export default vlVitestConfig();
