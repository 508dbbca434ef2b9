# Sourced by the entry scripts after `npm install`: puts the project's own Node.js first on PATH
# (the `node` devDependency, a current LTS installed from the npm registry, whatever Node.js ran
# npm) and stops with a clear message if it is missing.
# shellcheck shell=bash
export PATH="$PWD/node_modules/.bin:$PATH"
hash -r
want=$(sed -n 's/^ *"node": "\([0-9]*\)\..*",\{0,1\}$/\1/p' package.json | head -n 1)
have=$(node -p 'process.versions.node.split(".")[0]')
if [ -z "$want" ] || [ "$have" != "$want" ]; then
  echo "expected Node.js $want from node_modules/.bin (the \"node\" devDependency), found $(node --version): run npm install" >&2
  exit 1
fi
