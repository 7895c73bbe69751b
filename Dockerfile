# One image for every node; ROLE (leader|follower) and the other settings come from the environment
# (see docs/nodes.md). Build context: the repository root.
#
# Build stage: install the dependencies and bundle the node program (lib/node-bundle.mjs) with esbuild.
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY lib ./lib
COPY contracts ./contracts
COPY nodes ./nodes
RUN node lib/build-node.mjs /out

# Run stage: the bundle alone (its dependencies are inside it): no node_modules, no TypeScript loader.
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /out ./
ENV HOST=0.0.0.0 PORT=5000
EXPOSE 5000
USER node
# Exec form so SIGTERM from `docker stop` reaches node (graceful shutdown, exit 0).
CMD ["node", "main.mjs"]
