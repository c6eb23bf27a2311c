import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { describeReadmeExamples } = require('../../../tools/readme-examples.cjs');

describeReadmeExamples(join(__dirname, '..', 'README.md'), require);
