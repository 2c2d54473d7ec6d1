// Both versions of the names app. `baton up --app examples/name-registry/index.js` (or
// `--app baton-example-name-registry` where the package is installed) loads them together,
// which is what a lane needs to upgrade from one to the other.
import v1 from './v1.js';
import v2 from './v2.js';

export { v1, v2 };
export default [v1, v2];
