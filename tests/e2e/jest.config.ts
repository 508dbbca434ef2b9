export default {
  displayName: 'e2e',
  preset: '../../jest.preset.js',
  rootDir: '.',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/../../tsconfig.spec.json' }],
  },
};
