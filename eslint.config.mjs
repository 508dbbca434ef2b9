import nx from '@nx/eslint-plugin';

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/dist', '**/node_modules', '**/.cache', '**/tmp'] },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            // Architecture axis: what kind of code may depend on what.
            {
              sourceTag: 'type:domain',
              onlyDependOnLibsWithTags: ['type:domain'],
              bannedExternalImports: ['@nestjs/*', 'typeorm', 'kafkajs', 'pg', '@grpc/*'],
            },
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'], bannedExternalImports: ['@nestjs/*', 'typeorm', 'pg'] },
            { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:infra', 'type:contracts', 'type:domain'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:infra', 'type:contracts', 'type:domain'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:infra', 'type:contracts', 'type:domain', 'type:testing'] },
            // Ownership axis: a bounded context uses its own libs and shared ones, never another context's.
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:channels', onlyDependOnLibsWithTags: ['scope:channels', 'scope:shared'] },
            { sourceTag: 'scope:subscriptions', onlyDependOnLibsWithTags: ['scope:subscriptions', 'scope:shared'] },
            { sourceTag: 'scope:fanout', onlyDependOnLibsWithTags: ['scope:fanout', 'scope:shared'] },
            { sourceTag: 'scope:conversations', onlyDependOnLibsWithTags: ['scope:conversations', 'scope:shared'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
];
