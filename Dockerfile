# One image for every node; ROLE (leader|follower) and the other settings come from the environment
# (see docs/nodes.md). Build context: the repository root.
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# tsx is a runtime dependency: nodes run their TypeScript sources directly.
RUN npm ci --omit=dev && npm cache clean --force
COPY tsconfig.json ./
COPY lib ./lib
COPY nodes ./nodes
ENV HOST=0.0.0.0 PORT=5000
EXPOSE 5000
USER node
# Exec form so SIGTERM from `docker stop` reaches node (graceful shutdown, exit 0).
CMD ["node", "--import", "tsx", "nodes/main.ts"]
